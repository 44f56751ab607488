// Reads `expect` messages of a topic from its start with kafkajs, as a Node.js team
// would, and prints them as one JSON array: key, value (base64, and as JSON.parse reads
// it), headers (UTF-8). Usage: node read.js BROKER TOPIC EXPECT
"use strict";
const { Kafka, logLevel } = require("kafkajs");

const [broker, topic, expectText] = process.argv.slice(2);
const expect = Number(expectText);
const kafka = new Kafka({ clientId: "kafkajs-reader", brokers: [broker], logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: `kafkajs-reader-${process.pid}-${Date.now()}` });
const seen = [];

async function main() {
  const deadline = setTimeout(() => {
    console.error(`only ${seen.length} of ${expect} messages after 60 s`);
    process.exit(2);
  }, 60000);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ message }) => {
        const headers = {};
        for (const [name, value] of Object.entries(message.headers || {})) {
          headers[name] = value.toString("utf8");
        }
        seen.push({
          key: message.key === null ? null : message.key.toString("utf8"),
          value: message.value.toString("base64"),
          parsed: JSON.parse(message.value.toString("utf8")),
          headers,
        });
        if (seen.length >= expect) resolve();
      },
    });
  });
  clearTimeout(deadline);
  await consumer.disconnect();
  process.stdout.write(JSON.stringify(seen));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
