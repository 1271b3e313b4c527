// Hawk authentication as the Taskcluster Auth service performs it
// (PROTOCOL.md sections 2 and 3): the request is verified with the `hawk`
// package (15 minutes of clock skew, no nonce cache), the client is looked up
// through ext.certificate.issuer when present, certificates are checked and
// turn into temporary access tokens, authorizedScopes narrow the scopes, and
// every caller implicitly holds assume:anonymous.
import crypto from 'node:crypto';
import hawk from 'hawk';
import { mergeScopeSets, satisfiesExpression, validScope } from './scopes.js';
import { nice as slugid } from './slugid.js';

export const TIMESTAMP_SKEW_SEC = 15 * 60;
const FIVE_MINUTES = 5 * 60 * 1000;
const THIRTY_ONE_DAYS = 31 * 24 * 60 * 60 * 1000;

// The lines a certificate signature covers, joined by "\n" with no trailing
// newline (the server's form; see the empty-scopes gotcha in PROTOCOL.md).
export const certificateSignature = (cert, issuerAccessToken, credentialName) => {
  const lines = ['version:1'];
  if (cert.issuer) {
    lines.push('clientId:' + credentialName, 'issuer:' + cert.issuer);
  }
  lines.push('seed:' + cert.seed, 'start:' + cert.start, 'expiry:' + cert.expiry, 'scopes:');
  lines.push(...cert.scopes);
  return crypto.createHmac('sha256', issuerAccessToken).update(lines.join('\n')).digest('base64');
};

export const temporaryAccessToken = (issuerAccessToken, seed) =>
  crypto.createHmac('sha256', issuerAccessToken).update(seed).digest('base64')
    .replace(/\+/g, '-').replace(/\//g, '_').replace(/=/g, '');

// Issues named temporary credentials the way the Queue does for claims and
// object uploads.  An empty scope list would never verify, so it is refused.
export const createTemporaryCredentials = ({ clientId, issuer, start, expiry, scopes }) => {
  if (!scopes.length) {
    throw new Error('temporary credentials need at least one scope');
  }
  const cert = {
    version: 1,
    scopes: [...scopes],
    start,
    expiry,
    seed: slugid() + slugid(),
    signature: null,
    issuer: issuer.clientId,
  };
  cert.signature = certificateSignature(cert, issuer.accessToken, clientId);
  return {
    clientId,
    accessToken: temporaryAccessToken(issuer.accessToken, cert.seed),
    certificate: JSON.stringify(cert),
  };
};

const parseExt = (ext) => {
  try {
    // Buffer's base64 decoder takes the standard and the URL-safe alphabet,
    // as the real server's does (Python clients send the latter).
    return JSON.parse(Buffer.from(ext, 'base64').toString('utf-8'));
  } catch {
    throw new Error('Failed to parse ext');
  }
};

export class Authenticator {
  // clients: Map clientId -> {clientId, accessToken, scopes, expires?, disabled?}
  // certSkewMs: how far a certificate's start and expiry may be off the
  // clock (the Auth service allows five minutes).
  constructor({ clients, roles, clock, certSkewMs = FIVE_MINUTES }) {
    this.clients = clients;
    this.roles = roles;
    this.clock = clock;
    this.certSkewMs = certSkewMs;
  }

  expand(scopes) {
    return this.roles.expand(scopes);
  }

  // Mirrors the Auth service's client loader, including its messages.
  loadClient(clientId) {
    const client = this.clients.get(clientId);
    if (!client) {
      throw new Error(`Client with clientId '${clientId}' not found`);
    }
    if (client.disabled) {
      throw new Error(`Client with clientId '${clientId}' is disabled`);
    }
    const expires = client.expires ? new Date(client.expires) : new Date(8640000000000000);
    if (expires.getTime() < this.clock.now()) {
      throw new Error(`Client with clientId '${clientId}' has expired`);
    }
    return { accessToken: client.accessToken, scopes: this.expand(client.scopes), expires };
  }

  // Applies ext (certificate, authorizedScopes) to the issuing client.
  limitWithExt(credentialName, issuingClientId, client, ext) {
    let { accessToken, scopes, expires } = client;
    const issuingScopes = scopes;
    if (ext.certificate) {
      const cert = ext.certificate;
      if (!(cert instanceof Object) || Array.isArray(cert)) {
        throw new Error('ext.certificate must be a JSON object');
      }
      if (cert.version !== 1) {
        throw new Error('ext.certificate.version must be 1');
      }
      if (typeof cert.seed !== 'string') {
        throw new Error('ext.certificate.seed must be a string');
      }
      if (cert.seed.length !== 44) {
        throw new Error('ext.certificate.seed must be 44 characters');
      }
      if (typeof cert.start !== 'number') {
        throw new Error('ext.certificate.start must be a number');
      }
      if (typeof cert.expiry !== 'number') {
        throw new Error('ext.certificate.expiry must be a number');
      }
      if (!Array.isArray(cert.scopes)) {
        throw new Error('ext.certificate.scopes must be an array');
      }
      if (!cert.scopes.every(validScope)) {
        throw new Error('ext.certificate.scopes must be an array of valid scopes');
      }
      const now = this.clock.now();
      if (cert.start > now + this.certSkewMs) {
        throw new Error('ext.certificate.start > now');
      }
      if (cert.expiry < now - this.certSkewMs) {
        throw new Error('ext.certificate.expiry < now');
      }
      if (cert.expiry - cert.start > THIRTY_ONE_DAYS) {
        throw new Error('ext.certificate cannot last longer than 31 days!');
      }
      if (issuingClientId !== credentialName) {
        const createScope = 'auth:create-client:' + credentialName;
        if (!satisfiesExpression(issuingScopes, createScope)) {
          throw new Error('ext.certificate issuer `' + issuingClientId +
            '` doesn\'t have `' + createScope + '` for supplied clientId.');
        }
      } else if ('clientId' in cert) {
        throw new Error('ext.certificate.clientId must only be used with ext.certificate.issuer');
      }
      if (!satisfiesExpression(scopes, { AllOf: cert.scopes })) {
        throw new Error('ext.certificate issuer `' + issuingClientId +
          '` doesn\'t satisfy all certificate scopes ' + cert.scopes.join(', ') +
          '.  The temporary credentials were not generated correctly.');
      }
      const signature = certificateSignature(cert, accessToken, credentialName);
      if (typeof cert.signature !== 'string' || cert.signature.length !== signature.length ||
          !crypto.timingSafeEqual(Buffer.from(cert.signature), Buffer.from(signature))) {
        throw new Error(cert.issuer
          ? 'ext.certificate.signature is not valid, or wrong clientId provided'
          : 'ext.certificate.signature is not valid');
      }
      accessToken = temporaryAccessToken(accessToken, cert.seed);
      if (expires.getTime() > cert.expiry) {
        expires = new Date(cert.expiry);
      }
      scopes = cert.scopes;
    }
    if (ext.authorizedScopes) {
      if (!Array.isArray(ext.authorizedScopes)) {
        throw new Error('ext.authorizedScopes must be an array');
      }
      if (!ext.authorizedScopes.every(validScope)) {
        throw new Error('ext.authorizedScopes must be an array of valid scopes');
      }
      // The anonymous role is granted before the check, so a scope held only
      // through it can still be authorized.
      scopes = this.expand(mergeScopeSets([...scopes].sort(), ['assume:anonymous']));
      if (!satisfiesExpression(scopes, { AllOf: ext.authorizedScopes })) {
        throw new Error([
          'Supplied credentials do not satisfy authorizedScopes; credentials have scopes:',
          '', '```', scopes.join('\n'), '```', '',
          'authorizedScopes are:', '', '```', ext.authorizedScopes.join('\n'), '```',
        ].join('\n'));
      }
      scopes = ext.authorizedScopes;
    }
    return { accessToken, scopes, expires };
  }

  loadCredentials(clientId, rawExt) {
    const credentialName = clientId;
    let issuingClientId = clientId;
    let ext;
    if (rawExt) {
      ext = parseExt(rawExt);
      if (ext && ext.certificate && ext.certificate.issuer) {
        issuingClientId = ext.certificate.issuer;
        if (typeof issuingClientId !== 'string') {
          throw new Error('ext.certificate.issuer must be a string');
        }
        if (issuingClientId === credentialName) {
          throw new Error('ext.certificate.issuer must differ from the supplied clientId');
        }
      }
    }
    let client = this.loadClient(issuingClientId);
    if (ext) {
      client = this.limitWithExt(credentialName, issuingClientId, client, ext);
    }
    const scopes = this.expand(mergeScopeSets([...client.scopes].sort(), ['assume:anonymous']));
    return {
      key: client.accessToken,
      algorithm: 'sha256',
      clientId: credentialName,
      expires: client.expires,
      scopes,
    };
  }

  anonymous() {
    return {
      status: 'no-auth',
      clientId: 'anonymous',
      scopes: this.expand(['assume:anonymous']),
    };
  }

  // request: {method, resource, host, port, authorization, contentType, body}
  // Returns {status: 'auth-success'|'no-auth', clientId, scopes, expires} or
  // {status: 'auth-failed', message}.
  async authenticate(request) {
    const hasBewit = /^\/.*[?&]bewit=/.test(request.resource);
    if (request.authorization && hasBewit) {
      return {
        status: 'auth-failed',
        message: 'Cannot use two authentication schemes at once this request has both ' +
          'bewit in querystring and and \'authorization\' header',
      };
    }
    if (!request.authorization && !hasBewit) {
      return this.anonymous();
    }
    let result;
    try {
      let credentials;
      let artifacts;
      const target = {
        method: request.method.toUpperCase(),
        url: request.resource,
        host: request.host,
        port: request.port,
      };
      if (request.authorization) {
        target.authorization = request.authorization;
        ({ credentials, artifacts } = await hawk.server.authenticate(target, async (id) => {
          let ext;
          try {
            ext = hawk.utils.parseAuthorizationHeader(request.authorization).ext;
          } catch {
            ext = undefined;
          }
          return this.loadCredentials(id, ext);
        }, { timestampSkewSec: TIMESTAMP_SKEW_SEC }));
      } else {
        ({ credentials, attributes: artifacts } = await hawk.uri.authenticate(target, async (id) => {
          const parts = request.resource.match(/^(\/.*)([?&])bewit=([^&$]*)(?:&(.+))?$/);
          let ext;
          if (parts && /^[\w-]*$/.test(parts[3])) {
            const fields = Buffer.from(parts[3], 'base64').toString('binary').split('\\');
            if (fields.length === 4 && fields[3]) {
              ext = fields[3];
            }
          }
          return this.loadCredentials(id, ext);
        }, {}));
      }
      result = {
        status: 'auth-success',
        clientId: credentials.clientId,
        scopes: credentials.scopes,
        expires: credentials.expires,
      };
      if (artifacts && artifacts.hash) {
        const body = /^application\/json/i.test(request.contentType || '') ? request.body : '';
        const computed = hawk.crypto.calculatePayloadHash(
          Buffer.from(body || '', 'utf-8'), 'sha256', request.contentType);
        if (artifacts.hash !== computed) {
          return {
            status: 'auth-failed',
            message: `Invalid payload hash: ${artifacts.hash}\n` +
              `Computed payload hash: ${computed}\n` +
              'This happens when your request carries a signed hash of the payload and the ' +
              'hash doesn\'t match the hash we\'ve computed on the server-side.',
          };
        }
      }
    } catch (err) {
      // hawk wraps every error in a Boom; client errors carry their text in
      // the payload, errors from the credentials function keep err.message.
      let message = err.message || String(err);
      if (err.isBoom && !err.isServer) {
        message = err.output.payload.error;
        if (err.output.payload.message) {
          message += ': ' + err.output.payload.message;
        }
      }
      result = { status: 'auth-failed', message };
    }
    return result;
  }
}
