// node's bcrypt alone, for the bench's table of implementations:
// node bench-bcrypt.mjs ROUNDS COUNT THREADS -> {"one": hashes/s, "parallel": hashes/s}
// One: hashSync on the main thread. Parallel: THREADS async hashes at a time on libuv's
// pool (UV_THREADPOOL_SIZE must be at least THREADS), COUNT each.
import bcrypt from 'bcrypt';

const [rounds, count, threads] = process.argv.slice(2).map(Number);
let started = performance.now();
for (let i = 0; i < count; i++) bcrypt.hashSync('bench-password', rounds);
const one = count / ((performance.now() - started) / 1000);
started = performance.now();
await Promise.all(
  Array.from({ length: threads }, async () => {
    for (let i = 0; i < count; i++) await bcrypt.hash('bench-password', rounds);
  }),
);
const parallel = (threads * count) / ((performance.now() - started) / 1000);
console.log(JSON.stringify({ one, parallel }));
