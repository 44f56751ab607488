import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Kafka, logLevel, Producer } from 'kafkajs';

export interface UserCreatedData {
  id: string;
  nombre: string;
  email: string;
  createdAt: string;
}

@Injectable()
export class KafkaService implements OnModuleInit, OnModuleDestroy {
  private readonly topic = process.env.KAFKA_USER_CREATED_TOPIC ?? 'user.created';
  private readonly producer: Producer = new Kafka({
    clientId: 'nest-users',
    brokers: (process.env.KAFKA_BROKER ?? '127.0.0.1:9092').split(','),
    logLevel: logLevel.ERROR,
  }).producer();

  async onModuleInit(): Promise<void> {
    await this.producer.connect();
  }

  async onModuleDestroy(): Promise<void> {
    await this.producer.disconnect();
  }

  // Sent after the row is saved, acknowledged by every in-sync replica (kafkajs' default).
  async sendUserCreated(user: UserCreatedData): Promise<void> {
    const event = {
      eventType: 'USER_CREATED',
      eventId: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      data: user,
    };
    await this.producer.send({
      topic: this.topic,
      messages: [{ key: user.id, value: JSON.stringify(event) }],
    });
  }
}
