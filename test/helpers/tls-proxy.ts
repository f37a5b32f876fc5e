/**
 * A TLS front for the plain-text dev server, as a real cluster or Temporal Cloud presents
 * itself: it terminates TLS (mutual, when given a client CA), forwards each gRPC stream to the
 * dev server, and remembers the `authorization` header of every call.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as path from 'node:path';

export interface Certificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/** A CA, a server certificate for `serverName` and a client certificate, made by openssl into `dir`. */
export function makeCertificates(dir: string, serverName: string): Certificates {
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=payments test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  const issue = (name: string, subject: string, extensions: string) => {
    fs.writeFileSync(file(`${name}.ext`), extensions);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${subject}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  };
  issue('server', serverName, `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth\n`);
  issue('client', 'payments worker', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
  };
}

export interface TlsProxy {
  address: string;
  /** The `authorization` header of each call forwarded, in order. */
  authorizations: Array<string | undefined>;
  /** TLS handshakes refused (no or an untrusted client certificate). */
  refusedHandshakes: number;
  close(): Promise<void>;
}

export async function startTlsProxy(target: string, certificates: Certificates): Promise<TlsProxy> {
  const upstream = http2.connect(`http://${target}`);
  upstream.on('error', () => undefined);
  const server = http2.createSecureServer({
    key: fs.readFileSync(certificates.serverKey),
    cert: fs.readFileSync(certificates.serverCert),
    ca: fs.readFileSync(certificates.ca),
    requestCert: true,
    rejectUnauthorized: true,
  });
  const proxy: TlsProxy = { address: '', authorizations: [], refusedHandshakes: 0, close: async () => undefined };
  server.on('tlsClientError', () => proxy.refusedHandshakes++);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    proxy.authorizations.push(headers.authorization as string | undefined);
    const forwarded = { ...headers };
    delete forwarded[':scheme'];
    delete forwarded[':authority'];
    const call = upstream.request(forwarded);
    let trailers: http2.OutgoingHttpHeaders = {};
    call.on('response', (responseHeaders, flags) => {
      const { ':status': status, ...rest } = responseHeaders;
      // A trailers-only answer (an error such as NOT_FOUND) carries its grpc-status in the headers and ends there.
      if (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) stream.respond({ ':status': status, ...rest }, { endStream: true });
      else stream.respond({ ':status': status, ...rest }, { waitForTrailers: true });
    });
    call.on('trailers', (received) => (trailers = received));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.pipe(call);
    call.pipe(stream);
    const drop = () => {
      if (!call.closed) call.close(http2.constants.NGHTTP2_CANCEL);
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
    };
    call.on('error', drop);
    stream.on('error', drop);
    stream.on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  proxy.address = `127.0.0.1:${port}`;
  proxy.close = async () => {
    upstream.destroy();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Long polls keep sessions open, and close waits for them.
    for (const session of sessions) session.destroy();
    await closed;
  };
  return proxy;
}
