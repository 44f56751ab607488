// node's bcrypt alone, for the bench's table of implementations; prints hashes/s:
//   node bench-bcrypt.mjs one ROUNDS COUNT          hashSync COUNT times on the main thread
//   node bench-bcrypt.mjs parallel ROUNDS COUNT N   N async hashes at a time on libuv's pool
//                                                   (UV_THREADPOOL_SIZE >= N), COUNT each
import bcrypt from 'bcrypt';

const [mode, ...numbers] = process.argv.slice(2);
const [rounds, count, threads] = numbers.map(Number);
const started = performance.now();
if (mode === 'one') {
  for (let i = 0; i < count; i++) bcrypt.hashSync('bench-password', rounds);
} else {
  await Promise.all(
    Array.from({ length: threads }, async () => {
      for (let i = 0; i < count; i++) await bcrypt.hash('bench-password', rounds);
    }),
  );
}
const hashes = mode === 'one' ? count : count * threads;
console.log(hashes / ((performance.now() - started) / 1000));
