import { PaymentError } from '../../src/domain/errors';

/** The ErrorCode a payment call was refused with; fails the test if it succeeded or failed otherwise. */
export async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof PaymentError) return err.code;
    throw err;
  }
  throw new Error('expected a refusal, got success');
}
