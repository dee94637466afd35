import { isRecord } from '../input-files.js';
import { failed, passed, skipped, type CheckResult } from '../report.js';
import type { CertificateInput, CheckContext } from './context.js';

const MAX_NONCE_LENGTH = 256;

/**
 * 6. replay: a replay block has a non-blank nonce and a positive expiry, the expiry is in the
 * future by the verifier's clock, and the nonce has not been accepted before by this store. The
 * nonce is claimed only after every check passed (so a forged certificate cannot burn a nonce).
 */
export function checkReplay(_input: CertificateInput, ctx: CheckContext): CheckResult {
  if (ctx.document === null) return skipped('replay', 'certificate did not parse');
  const block = ctx.document.replay;
  if (block === undefined) return skipped('replay', 'the certificate has no replay block');
  const nonce = isRecord(block) ? block.nonce : undefined;
  const expires = isRecord(block) ? block.expires_at_unix : undefined;
  if (typeof nonce !== 'string' || nonce.trim() === '' || nonce.length > MAX_NONCE_LENGTH) {
    return failed('replay', 'VERIFY_REPLAY_INVALID', `replay.nonce must be a non-blank string of at most ${MAX_NONCE_LENGTH} characters`);
  }
  if (typeof expires !== 'number' || !Number.isSafeInteger(expires) || expires <= 0) {
    return failed('replay', 'VERIFY_REPLAY_INVALID', 'replay.expires_at_unix must be a positive integer of seconds');
  }
  const nowMs = ctx.clock.now();
  const nowUnix = Math.floor(nowMs / 1000);
  let window: string;
  if (ctx.checkReplayExpiry) {
    if (expires * 1000 <= nowMs) {
      return failed('replay', 'VERIFY_REPLAY_EXPIRED', `the replay window closed at ${expires} (now ${nowUnix})`, { expires_at_unix: expires, now_unix: nowUnix });
    }
    window = `expires at ${expires} (now ${nowUnix})`;
  } else {
    window = `expiry ${expires} not enforced`;
  }
  if (ctx.replayStore === null) return passed('replay', `nonce is well formed; ${window}; no nonce store consulted`, { expires_at_unix: expires });
  if (ctx.replayStore.has(nonce)) {
    return failed('replay', 'VERIFY_REPLAY_NONCE_REUSED', `nonce was already accepted (${ctx.replayStore.location})`, { store: ctx.replayStore.location });
  }
  const jobId = ctx.document.job_id;
  ctx.pendingClaim = {
    nonce,
    job_id: typeof jobId === 'string' ? jobId : null,
    artifact_hash: ctx.artifactHash,
    expires_at_unix: expires,
    recorded_at_unix: nowUnix,
  };
  return passed('replay', `nonce not seen before; ${window}`, { expires_at_unix: expires, store: ctx.replayStore.location });
}
