/** A recorded history's file is named for its payment-id, so the replay knows the workflow ID. */
const SEPARATOR = '--';

/** `<payment-id>--<scenario>--<release>.json`; the first release's files carry no release. */
export function historyFile(paymentId: string, scenario: string, release: string): string {
  return `${paymentId}${SEPARATOR}${scenario}${SEPARATOR}${release}.json`;
}

export function paymentIdOfHistoryFile(file: string): string {
  return file.slice(0, file.indexOf(SEPARATOR));
}
