// Hashes made by node's bcrypt (the peer's own dependency), for the service's tests:
// npm ci && node vectors.mjs > ../../../tests/data/bcrypt_node_vectors.json
import { createRequire } from 'node:module';
import bcrypt from 'bcrypt';

const version = createRequire(import.meta.url)('bcrypt/package.json').version;
const passwords = [
  ['ascii', 'correct-horse-battery'],
  ['non-ascii', 'contraseña-ñandú-日本語-🔑'],
  ['exactly 72 bytes', 'x'.repeat(69) + 'ñ!'],
  ['space and symbols', ' p@ss w0rd \\"\' '],
];
const vectors = [];
for (const [what, password] of passwords) {
  for (const rounds of [4, 10]) {
    vectors.push({ what, password, rounds, hash: bcrypt.hashSync(password, rounds) });
  }
}
console.log(JSON.stringify({ made_by: `node ${process.version}, bcrypt ${version}: bench/peers/nest-users/vectors.mjs`, vectors }, null, 2));
