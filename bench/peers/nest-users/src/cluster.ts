import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';

// The peer in node's cluster mode, as a node service is run on every core: the primary
// forks one process per core (WEB_WORKERS overrides), which share the port (the primary
// hands out connections round-robin). The first is forked alone and the rest once it
// listens, so that TypeORM's `synchronize` makes the table once, not in a race.
if (cluster.isPrimary) {
  const count = Number(process.env.WEB_WORKERS ?? availableParallelism());
  const forkRest = (): void => {
    for (let n = 1; n < count; n++) cluster.fork();
  };
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    // The bench waits for this line before it loads the peer.
    if (listening === count) console.log(`cluster: ${count} workers listening`);
  });
  cluster.fork().once('listening', forkRest);
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) {
      console.error(`worker ${worker.process.pid} exited (${signal ?? code}); stopping`);
      process.exitCode = 1;
      stop();
    }
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  await import('./main.js');
}
