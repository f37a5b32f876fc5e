// What the worker bundles: every workflow type the task queue serves.
export { payment } from './payment-workflow';
