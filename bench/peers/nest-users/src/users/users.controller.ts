import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { UserCreatedData } from '../kafka/kafka.service.js';
import { CreateUserDto } from './create-user.dto.js';
import { UsersService } from './users.service.js';

@Controller('users/v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @HttpCode(201)
  create(@Body() dto: CreateUserDto): Promise<UserCreatedData> {
    return this.users.create(dto);
  }
}
