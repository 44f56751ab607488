import { ConflictException, Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import bcrypt from 'bcrypt';
import { QueryFailedError, Repository } from 'typeorm';
import { KafkaService, UserCreatedData } from '../kafka/kafka.service.js';
import { CreateUserDto } from './create-user.dto.js';
import { User } from './user.entity.js';

const UNIQUE_VIOLATION = '23505';

// Validate (the pipe), hash, save, then send USER_CREATED: no outbox, so an event whose
// send fails is lost (logged).
@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);
  private readonly rounds = Number(process.env.BCRYPT_ROUNDS ?? 12);

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly kafka: KafkaService,
  ) {}

  async create(dto: CreateUserDto): Promise<UserCreatedData> {
    // bcrypt's async hash runs on libuv's thread pool, off the event loop.
    const passwordHash = await bcrypt.hash(dto.password, this.rounds);
    let saved: User;
    try {
      saved = await this.users.save(
        this.users.create({ nombre: dto.nombre, email: dto.email.toLowerCase(), passwordHash }),
      );
    } catch (err) {
      const code = (err as QueryFailedError & { driverError?: { code?: string } }).driverError?.code;
      if (err instanceof QueryFailedError && code === UNIQUE_VIOLATION) {
        throw new ConflictException('email already registered');
      }
      throw err;
    }
    const user: UserCreatedData = {
      id: saved.id,
      nombre: saved.nombre,
      email: saved.email,
      createdAt: saved.createdAt.toISOString(),
    };
    try {
      await this.kafka.sendUserCreated(user);
    } catch (err) {
      this.logger.error(`USER_CREATED for user ${user.id} not sent: ${(err as Error).message}`);
    }
    return user;
  }
}
