import t from 'tap';
import fc from 'fast-check';
import { formatHostPort, isValidHost, isValidHostName, parseResponseAddress } from '../src/address.js';
import { GatewayError } from '../src/errors.js';

function codeOf(input: string): string {
  try {
    parseResponseAddress(input);
    return 'parsed';
  } catch (e) {
    return e instanceof GatewayError ? e.code : `not a GatewayError: ${String(e)}`;
  }
}

t.test('parses host:port as a TCP address', async (t) => {
  t.same(parseResponseAddress('gateway.example.com:8877'), {
    scheme: 'tcp',
    host: 'gateway.example.com',
    port: 8877,
    path: '',
    href: 'gateway.example.com:8877',
  });
  t.same(parseResponseAddress('10.0.0.5:1'), { scheme: 'tcp', host: '10.0.0.5', port: 1, path: '', href: '10.0.0.5:1' });
});

t.test('parses tcp://host:port and ignores surrounding white space', async (t) => {
  t.same(parseResponseAddress(' tcp://10.0.0.5:65535\n'), {
    scheme: 'tcp',
    host: '10.0.0.5',
    port: 65535,
    path: '',
    href: '10.0.0.5:65535',
  });
  t.equal(parseResponseAddress('TCP://host:80').host, 'host');
});

t.test('parses a bracketed IPv6 literal and keeps the brackets only in href', async (t) => {
  t.same(parseResponseAddress('[::1]:8877'), { scheme: 'tcp', host: '::1', port: 8877, path: '', href: '[::1]:8877' });
  t.equal(parseResponseAddress('tcp://[fe80::1:2]:9000').host, 'fe80::1:2');
});

t.test('parses ws:// with host, port and path', async (t) => {
  const a = parseResponseAddress('ws://gateway:8888/gl/response?tenant=a');
  t.same(a, { scheme: 'ws', host: 'gateway', port: 8888, path: '/gl/response?tenant=a', href: 'ws://gateway:8888/gl/response?tenant=a' });
  t.equal(parseResponseAddress('ws://[::1]:9/x').host, '::1');
  t.equal(parseResponseAddress('ws://gateway').path, '/', 'an empty path is /');
});

t.test('parses wss:// with a path and defaults the port by scheme', async (t) => {
  const a = parseResponseAddress('wss://gateway.example.com/kernels/response');
  t.equal(a.scheme, 'wss');
  t.equal(a.port, 443);
  t.equal(a.path, '/kernels/response');
  t.equal(a.href, 'wss://gateway.example.com/kernels/response');
  t.equal(parseResponseAddress('ws://gateway/x').port, 80);
  t.equal(parseResponseAddress('wss://gateway:9443/x').port, 9443);
});

t.test('refuses ports that are not 1..65535', async (t) => {
  for (const input of [
    'host:0',
    'host:65536',
    'host:123456',
    'host:-1',
    'host:8a',
    'tcp://host:99999',
    '[::1]:0',
    'ws://host:0/x',
    'ws://host:65536/x',
    'wss://host:abc/',
  ]) {
    t.equal(codeOf(input), 'GL_ERR_ADDRESS_INVALID', input);
  }
});

t.test('refuses an address without a host or a port', async (t) => {
  for (const input of ['', 'host', 'tcp://host', 'host:', ':8877', '[::1]', '::1:8877', 'tcp://:80', 'ws://:80/x', 'ws://']) {
    t.equal(codeOf(input), 'GL_ERR_ADDRESS_INVALID', JSON.stringify(input));
  }
});

t.test('refuses credentials in the address', async (t) => {
  for (const input of ['ws://user:secret@host:1/x', 'wss://user@host/x', 'user@host:1', 'tcp://user:pw@host:1']) {
    t.equal(codeOf(input), 'GL_ERR_ADDRESS_INVALID', input);
  }
});

t.test('refuses schemes other than tcp, ws and wss', async (t) => {
  for (const input of ['http://host:80', 'udp://host:1', 'zmq://host:1', 'file:///tmp/x']) {
    t.equal(codeOf(input), 'GL_ERR_ADDRESS_INVALID', input);
  }
});

t.test('refuses hosts that are neither addresses nor host names', async (t) => {
  for (const input of ['[1.2.3.4]:80', '[not-v6]:80', 'bad_host:1', 'bad host:1', '300.1.1.1:80', 'ws://bad_host/x']) {
    t.equal(codeOf(input), 'GL_ERR_ADDRESS_INVALID', input);
  }
});

t.test('the error names the input and the accepted forms', async (t) => {
  t.throws(() => parseResponseAddress('nonsense'), {
    code: 'GL_ERR_ADDRESS_INVALID',
    message: /'nonsense'.*host:port/,
    details: { input: 'nonsense' },
  });
});

t.test('formatHostPort brackets IPv6 literals only', async (t) => {
  t.equal(formatHostPort('::1', 80), '[::1]:80');
  t.equal(formatHostPort('10.0.0.1', 80), '10.0.0.1:80');
  t.equal(formatHostPort('gateway', 80), 'gateway:80');
});

t.test('host names follow RFC 1123 labels and refuse an all-numeric last label', async (t) => {
  for (const name of ['a', 'a-b.c', 'xn--bcher-kva.example', `${'a'.repeat(63)}.com`, 'host.']) t.ok(isValidHostName(name), name);
  for (const name of ['', '-a', 'a-', `${'a'.repeat(64)}.com`, 'a..b', '1.2.3', '999.1.1.1', 'a.b.123', 'x'.repeat(254)])
    t.notOk(isValidHostName(name), name);
  t.ok(isValidHost('::1'));
  t.notOk(isValidHost(42));
});

t.test('every host and port formatted by formatHostPort parses back (property)', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()), fc.integer({ min: 1, max: 65535 }), (host, port) => {
      const a = parseResponseAddress(formatHostPort(host, port));
      return a.scheme === 'tcp' && a.host === host && a.port === port;
    }),
    { numRuns: 1000 },
  );
  t.pass('property held');
});

t.test('arbitrary text never throws anything but GL_ERR_ADDRESS_INVALID (property)', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => ['parsed', 'GL_ERR_ADDRESS_INVALID'].includes(codeOf(s))),
    { numRuns: 2000 },
  );
  t.pass('property held');
});
