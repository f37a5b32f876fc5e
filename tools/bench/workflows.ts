// What the bench worker bundles: the payment, and the ceiling it is measured against.
export { payment } from '../../src/workflows';
export { ceiling } from './ceiling-workflow';
