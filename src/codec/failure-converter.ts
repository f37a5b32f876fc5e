/**
 * Failures as Temporal keeps them: their message and stack trace go into a payload, which the
 * codec encrypts (a decline's message names the balance). Loaded by path, by the workflow
 * bundle and every client and worker, so it imports only the SDK's deterministic common module.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
