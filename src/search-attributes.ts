/**
 * The payments' search attributes on a Temporal namespace: registered by the launchers
 * (`npm run temporal`, the tests' servers) and checked by the worker at start, since a
 * workflow task that sets an attribute the namespace lacks fails, and the payment would stall.
 */
import { status } from '@grpc/grpc-js';
import { isGrpcServiceError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { PAYMENT_SEARCH_ATTRIBUTES } from './domain/search-attributes';

type OperatorService = Pick<temporal.api.operatorservice.v1.OperatorService, 'listSearchAttributes' | 'addSearchAttributes'>;
type Key = (typeof PAYMENT_SEARCH_ATTRIBUTES)[number];

/** The names the namespace lacks, and those it has under another type. */
async function compared(operator: OperatorService, namespace: string): Promise<{ missing: Key[]; mistyped: Key[] }> {
  const have = (await operator.listSearchAttributes({ namespace })).customAttributes ?? {};
  return {
    missing: PAYMENT_SEARCH_ATTRIBUTES.filter((key) => have[key.name] === undefined),
    mistyped: PAYMENT_SEARCH_ATTRIBUTES.filter((key) => have[key.name] !== undefined && have[key.name] !== encode(key)),
  };
}

/** `temporal operator search-attribute create` for what is missing, with the type as the CLI spells it (KEYWORD_LIST: KeywordList). */
function createCommands(keys: readonly Key[], namespace: string): string {
  const cliType = (key: Key) => key.type.toLowerCase().replace(/(^|_)([a-z])/g, (_, __, letter: string) => letter.toUpperCase());
  return keys
    .map((key) => `temporal operator search-attribute create --namespace ${namespace} --name ${key.name} --type ${cliType(key)}`)
    .join('\n');
}

/** Why the namespace cannot take the payments' search attributes; undefined when it has every one, with its type. */
export async function searchAttributeProblem(operator: OperatorService, namespace: string): Promise<string | undefined> {
  const { missing, mistyped } = await compared(operator, namespace);
  if (mistyped.length > 0) {
    return `namespace ${namespace} has search attributes of another type: ${mistyped.map((key) => `${key.name} (wanted ${key.type})`).join(', ')}`;
  }
  if (missing.length > 0) {
    return (
      `namespace ${namespace} lacks the payments' search attributes ${missing.map((key) => key.name).join(', ')}; ` +
      `npm run temporal registers them, or run:\n${createCommands(missing, namespace)}`
    );
  }
  return undefined;
}

/** Registers the payments' search attributes the namespace lacks; answers the names it added. */
export async function registerSearchAttributes(operator: OperatorService, namespace: string): Promise<string[]> {
  const { missing } = await compared(operator, namespace);
  if (missing.length > 0) await operator.addSearchAttributes({ namespace, searchAttributes: indexedTypes(missing) });
  return missing.map((key) => key.name);
}

/** The attributes' names and types, as OperatorService.AddSearchAttributes takes them. */
export function indexedTypes(keys: readonly Key[] = PAYMENT_SEARCH_ATTRIBUTES): Record<string, temporal.api.enums.v1.IndexedValueType> {
  return Object.fromEntries(keys.map((key) => [key.name, encode(key)]));
}

function encode(key: Key): temporal.api.enums.v1.IndexedValueType {
  return temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${key.type}`];
}

const RECHECK_MS = 1000;
const REPEAT_WARNING_MS = 30_000;

/**
 * Returns once the namespace has the payments' search attributes, saying why it waits (at
 * once, then every 30 s): a worker that polled without them would fail every payment's task.
 * Waiting rather than exiting lets a worker start beside `npm run temporal` or
 * `npm run temporal:cluster`, which register them (and the cluster its namespace) just after
 * the server comes up, or before an operator has added them.
 */
export async function waitForSearchAttributes(operator: OperatorService, namespace: string, warn: (line: string) => void): Promise<void> {
  let warnedAt = -Infinity;
  for (;;) {
    const problem = await searchAttributeProblem(operator, namespace).catch((err: unknown) => {
      // A cluster's frontend answers before its launcher has registered the namespace.
      if (isGrpcServiceError(err) && err.code === status.NOT_FOUND) return `namespace ${namespace} does not exist yet`;
      throw err;
    });
    if (!problem) return;
    if (Date.now() - warnedAt >= REPEAT_WARNING_MS) {
      warn(`worker waits before polling: ${problem}`);
      warnedAt = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, RECHECK_MS));
  }
}
