// What the worker bundles: every workflow type the task queue serves.
export { ceiling } from './ceiling';
export { payment } from './payment-workflow';
