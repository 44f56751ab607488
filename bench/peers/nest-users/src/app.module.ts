import { Controller, Get, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { KafkaModule } from './kafka/kafka.module.js';
import { User } from './users/user.entity.js';
import { UsersModule } from './users/users.module.js';

@Controller()
class IndexController {
  @Get()
  index(): { status: string } {
    return { status: 'OK' };
  }
}

@Module({
  imports: [
    TypeOrmModule.forRoot({
      type: 'postgres',
      url: process.env.DATABASE_URL,
      entities: [User],
      // The bench gives it an empty database: the table is made at start.
      synchronize: true,
    }),
    KafkaModule,
    UsersModule,
  ],
  controllers: [IndexController],
})
export class AppModule {}
