/**
 * A throwaway certificate authority and a server certificate for `localhost` / 127.0.0.1, made
 * with the real openssl, so the real `gh` (Go, trusting SSL_CERT_FILE) and Node (NODE_EXTRA_CA_CERTS)
 * talk HTTPS to loopback servers the tests start. Nothing here is trusted outside the test.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestPki {
  dir: string;
  /** PEM of the CA: what SSL_CERT_FILE / NODE_EXTRA_CA_CERTS point at. */
  caFile: string;
  key: Buffer;
  cert: Buffer;
}

let cached: TestPki | undefined;

/** One CA + leaf per process (about 100 ms with openssl), kept in a temporary directory. */
export function testPki(): TestPki {
  if (cached && fs.existsSync(cached.caFile)) return cached;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-pki-'));
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=swarm test CA']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost']);
  fs.writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext']);
  cached = {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    key: fs.readFileSync(path.join(dir, 'leaf.key')),
    cert: fs.readFileSync(path.join(dir, 'leaf.pem')),
  };
  return cached;
}
