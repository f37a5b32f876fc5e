/**
 * Prometheus metrics of the gateway: requests by route and status, latency, payment outcomes.
 * Whatever names a tenant is kept out of the public registry, which /metrics shows on the
 * public port when ADMIN_PORT is unset: who the service's customers are, and how much each
 * pays, is not for anyone who can reach that port.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  /** Nothing in it names a tenant. */
  readonly publicRegistry = new Registry();
  private readonly tenantRegistry = new Registry();
  /** ADMIN_PORT's /metrics: the public registry's metrics and the counts by tenant. */
  readonly adminRegistry: Registry;

  readonly requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.publicRegistry],
  });

  readonly latency = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from request received to response sent, by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.publicRegistry],
  });

  private readonly payments = new Counter({
    name: 'payments_total',
    help: 'Answers to makePayment and cancelPayment, by operation and outcome (completed, replayed, cancelled, refunded, or an error code)',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.publicRegistry],
  });

  private readonly paymentsByTenant = new Counter({
    name: 'payments_by_tenant_total',
    help: 'Answers to makePayment and cancelPayment, by tenant, operation and outcome (as payments_total)',
    labelNames: ['tenant', 'operation', 'outcome'] as const,
    registers: [this.tenantRegistry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.publicRegistry });
    // Merged once every metric is registered: the merged registry holds the same metric objects, so it reads their counts as they grow.
    this.adminRegistry = Registry.merge([this.publicRegistry, this.tenantRegistry]);
  }

  /** One answer to makePayment or cancelPayment, counted by outcome, and by tenant too. */
  payment(tenant: string, operation: string, outcome: string): void {
    this.payments.inc({ operation, outcome });
    this.paymentsByTenant.inc({ tenant, operation, outcome });
  }
}
