// Routes API requests the way lib-api does, driven by the official API
// reference: the entry is found by method and route, then the middleware runs
// in lib-api's order: body parse (MalformedPayload), authentication and the
// scope check when the URL alone renders the scope expression (401/403), URL
// parameter and query patterns (InvalidRequestArguments), input schema
// (InputValidationError), then the handler, whose reply is validated against
// the output schema before it is sent.
import { ApiError } from './errors.js';
import { authorize, canRender, render } from './scopes.js';
import { SLUGID_PATTERN } from './slugid.js';

// URL parameter patterns the Queue and object service declare (they are not
// part of the API reference).
const PARAM_PATTERNS = {
  taskId: SLUGID_PATTERN,
  taskGroupId: SLUGID_PATTERN,
  runId: /^[1-9]*[0-9]+$/,
  name: /^[\x20-\x7e]+$/,
  taskQueueId: /^[a-zA-Z0-9-_]{1,38}\/[a-z]([-a-z0-9]{0,36}[a-z0-9])?$/,
  provisionerId: /^[a-zA-Z0-9-_]{1,38}$/,
  workerType: /^[a-z]([-a-z0-9]{0,36}[a-z0-9])?$/,
  workerGroup: /^([a-zA-Z0-9-_]{1,38})$/,
  workerId: /^([a-zA-Z0-9-_]{1,38})$/,
};

const QUERY_PATTERNS = {
  continuationToken: /./,
  limit: /^[0-9]+$/,
};

// Artifact names and task queue ids may contain raw "/" (clients encode it as
// %2F, but both forms are accepted, as Express's `:name(*)` routes do).
const compileRoute = (route) => {
  const params = [];
  const source = route.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/<([a-zA-Z]+)>/g,
    (text, name) => {
      params.push(name);
      if (name === 'name') {
        return '(.+)';
      }
      if (name === 'taskQueueId') {
        return '(.+?)';
      }
      return '([^/]+)';
    });
  return { regex: new RegExp('^' + source + '$'), params };
};

export class ServiceRouter {
  // service: 'queue' | 'object'; handlers: {methodName: async (r) => reply}
  constructor({ schemas, serviceName, handlers }) {
    this.serviceName = serviceName;
    this.schemas = schemas;
    this.handlers = handlers;
    this.prefix = `/api/${serviceName}/v1`;
    const reference = schemas.api(serviceName);
    this.entries = reference.entries
      .filter((e) => e.type === 'function')
      .map((e) => ({
        ...e,
        ...compileRoute(e.route),
        httpMethod: e.method.toUpperCase(),
        inputId: e.input ? schemas.idFor(serviceName, e.input) : null,
        outputId: e.output && e.output !== 'blob' ? schemas.idFor(serviceName, e.output) : null,
      }));
  }

  // Returns {entry, rawParams} or null.  HEAD requests match GET routes.
  match(method, path) {
    if (!path.startsWith(this.prefix + '/')) {
      return null;
    }
    const rest = path.slice(this.prefix.length);
    const httpMethod = method === 'HEAD' ? 'GET' : method;
    for (const entry of this.entries) {
      if (entry.httpMethod !== httpMethod) {
        continue;
      }
      const m = entry.regex.exec(rest);
      if (m) {
        const rawParams = {};
        entry.params.forEach((p, i) => {
          rawParams[p] = m[i + 1];
        });
        return { entry, rawParams };
      }
    }
    return null;
  }

  // ctx: {entry, rawParams, query, contentType, bodyText, authenticate()}
  // Returns {status, body?, headers?, validated: bool}.
  async dispatch(ctx) {
    const { entry } = ctx;
    const params = {};
    for (const [k, v] of Object.entries(ctx.rawParams)) {
      try {
        params[k] = decodeURIComponent(v);
      } catch {
        params[k] = v;
      }
    }
    ctx.params = params;
    ctx.payload = {};

    // Body parse.  Bodies of methods without input are ignored, as lib-api
    // does (reportCompleted's legacy {"success": false} is read separately).
    const isJson = /^application\/json\s*(;|$)/i.test(ctx.contentType || '');
    let body;
    if (ctx.bodyText.length && isJson) {
      try {
        body = JSON.parse(ctx.bodyText);
      } catch (err) {
        throw new ApiError('MalformedPayload', 'Failed to parse JSON payload: {{error}}',
          { error: err.message });
      }
      ctx.payload = body;
    }
    ctx.body = body;

    // Authentication is lazy: it runs on the first scope check.
    let authResult = null;
    ctx.auth = async () => {
      if (!authResult) {
        authResult = await ctx.authenticate();
      }
      return authResult;
    };
    const check = (result, scopeParams) => {
      if (result.status === 'auth-failed') {
        const err = new ApiError('AuthenticationFailed', result.message, {});
        err.headers = { 'www-authenticate': 'hawk' };
        throw err;
      }
      authorize(result, render(entry.scopes, scopeParams));
    };
    // Resolves authentication, then returns a synchronous checker the domain
    // code calls with the parameters the handler learns along the way.
    ctx.authorizer = async () => {
      const result = await ctx.auth();
      return (scopeParams) => {
        if (entry.scopes) {
          check(result, scopeParams);
        }
      };
    };
    if (entry.scopes && canRender(entry.scopes, params)) {
      check(await ctx.auth(), params);
    }

    const bad = [];
    for (const [k, v] of Object.entries(params)) {
      if (PARAM_PATTERNS[k] && !PARAM_PATTERNS[k].test(v)) {
        bad.push(`${k}: ${JSON.stringify(v)} must match ${PARAM_PATTERNS[k]}`);
      }
    }
    for (const [k, v] of Object.entries(ctx.query)) {
      if (!(entry.query || []).includes(k)) {
        continue;
      }
      if (QUERY_PATTERNS[k] && !QUERY_PATTERNS[k].test(v)) {
        bad.push(`query ${k}: ${JSON.stringify(v)} must match ${QUERY_PATTERNS[k]}`);
      }
    }
    if (bad.length) {
      throw new ApiError('InvalidRequestArguments', 'Invalid request arguments:\n{{errors}}',
        { errors: bad.join('\n') });
    }

    if (entry.inputId) {
      if (!isJson) {
        throw new ApiError('MalformedPayload',
          'Payload must be JSON with content-type: application/json got content-type: ' +
          '{{contentType}}', { contentType: ctx.contentType || null });
      }
      const error = this.schemas.validate('request', entry.inputId, body === undefined ? {} : body);
      if (error) {
        ctx.onRequestSchemaFailure();
        throw new ApiError('InputValidationError', error, { schema: entry.inputId });
      }
    }

    const handler = this.handlers[entry.name];
    if (!handler) {
      throw new ApiError('ResourceNotFound',
        'The queue emulator does not implement {{service}}.{{method}}',
        { service: this.serviceName, method: entry.name });
    }
    return handler(ctx);
  }
}
