import { IsEmail, IsString, Length, MaxLength, MinLength } from 'class-validator';

export class CreateUserDto {
  @IsString()
  @Length(1, 100)
  nombre: string;

  @IsEmail()
  @MaxLength(254)
  email: string;

  // bcrypt reads 72 bytes at most.
  @IsString()
  @MinLength(8)
  @MaxLength(72)
  password: string;
}
