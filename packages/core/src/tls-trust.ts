/**
 * The CA certificates swarm's own HTTPS requests trust.
 *
 * Node reads NODE_EXTRA_CA_CERTS at every start, before any code runs, whether or not the process
 * ever opens a TLS connection: with a system bundle of some 150 certificates that is a large part
 * of a short command's time. Most swarm commands open none, so the `swarm` command's launcher
 * (bin/swarm.js) starts Node without the variable, puts it back into the environment at once, so
 * that every process swarm starts inherits it unchanged, and hands the file here. It is read on
 * the first HTTPS request that needs it, and then trusted as Node would have: on top of Node's
 * bundled roots.
 *
 * A process started as `node bin/swarm.js` read the file itself; nothing is deferred then, and
 * requests use Node's default trust as it stands.
 */
import fs from 'node:fs';
import type tls from 'node:tls';

let deferredFile: string | null = null;
let context: tls.SecureContext | null = null;

/** Called by the launcher when it started Node without NODE_EXTRA_CA_CERTS; '' defers nothing. */
export function deferExtraCaCerts(file: string): void {
  deferredFile = file === '' ? null : file;
  context = null;
}

/**
 * The `secureContext` option for an HTTPS request: undefined where Node's default trust already
 * holds every certificate meant, else one context (made once: parsing the roots takes tens of ms)
 * that trusts Node's bundled roots and the deferred file's certificates. A file that cannot be
 * read is ignored with a warning, as Node ignores it at start.
 */
export function tlsSecureContext(): tls.SecureContext | undefined {
  if (deferredFile === null) return undefined;
  if (context === null) {
    let extra: Buffer | null = null;
    try {
      extra = fs.readFileSync(deferredFile);
    } catch (error) {
      process.emitWarning(`Ignoring extra certs from \`${deferredFile}\`, load failed: ${(error as Error).message}`);
    }
    // node:tls is loaded here, not at start: most commands never get this far.
    const { createSecureContext, rootCertificates } = process.getBuiltinModule('node:tls');
    context = createSecureContext({ ca: extra ? [...rootCertificates, extra] : [...rootCertificates] });
  }
  return context;
}
