/** The tenant rule and the workflow-ID rule, as pure functions. */
import { paymentOfWorkflowId, workflowIdFor } from '../src/domain/contract';
import { scopedId, unscopedId } from '../src/domain/tenancy';

test.each([
  ['default', 'order-1', 'order-1', 'payment:order-1'],
  ['default', 'eu:order-1', 'eu:order-1', 'payment:eu:order-1'],
  ['acme', 'order-1', 'acme/order-1', 'payment:acme/order-1'],
  ['acme.eu_2-x', 'a:b.c', 'acme.eu_2-x/a:b.c', 'payment:acme.eu_2-x/a:b.c'],
])('tenant %s, id %s: service-wide %s, workflow %s, and back', (tenant, id, scoped, workflowId) => {
  expect(scopedId(tenant, id)).toBe(scoped);
  expect(unscopedId(scoped)).toEqual({ tenant, id });
  expect(workflowIdFor(id, tenant)).toBe(workflowId);
  expect(paymentOfWorkflowId(workflowId)).toEqual({ tenant, paymentId: id });
});

test.each([
  ['order-1', 'does not start with'],
  ['payment:', 'names no payment-id'],
  ['payment:acme/', 'names no payment-id'],
  ['payment:/order-1', 'names no tenant'],
  ['payment:ac me/order-1', 'names no tenant'],
  // The tenant default's payments have one name only: this would be a second workflow for `order-1`.
  ['payment:default/order-1', 'is not how the payment is named: payment:order-1'],
])('workflow ID %s names no payment: %s', (workflowId, why) => {
  expect(() => paymentOfWorkflowId(workflowId)).toThrow(why);
});
