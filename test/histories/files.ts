/** A recorded history's file is named for its payment-id, so the replay knows the workflow ID. */
const SEPARATOR = '--';

export function historyFile(paymentId: string, scenario: string): string {
  return `${paymentId}${SEPARATOR}${scenario}.json`;
}

export function paymentIdOfHistoryFile(file: string): string {
  return file.slice(0, file.indexOf(SEPARATOR));
}
