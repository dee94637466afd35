import { describe, expect, it } from 'vitest';
import { SwarmError } from '@swarm/core';
import { backendFor } from './index.js';

describe('backends', () => {
  it('runs on local and github, and refuses a backend this build has not got before anything starts', () => {
    expect(backendFor('local').name).toBe('local');
    expect(backendFor('github').name).toBe('github');
    for (const name of ['gitlab', 'nope']) {
      const error = (() => {
        try {
          backendFor(name);
        } catch (e) {
          return e;
        }
        return null;
      })();
      expect(error).toBeInstanceOf(SwarmError);
      expect((error as SwarmError).code).toBe('INVALID_ARGUMENT');
      expect((error as SwarmError).exitCode).toBe(2);
    }
  });
});
