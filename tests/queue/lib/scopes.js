// Scope expressions as lib-api uses them: the API reference gives a template
// per endpoint ("queue:claim-work:<taskQueueId>", {for, in, each}, {if, then})
// that is rendered with request parameters and checked with
// taskcluster-lib-scopes.  Also role expansion (assume:<role>), which the
// real Auth service applies to every client's scopes.
import libScopes from 'taskcluster-lib-scopes';
import { ApiError } from './errors.js';

const { satisfiesExpression, removeGivenScopes, mergeScopeSets, validScope, patternMatch } =
  libScopes;
export { mergeScopeSets, satisfiesExpression, validScope };

const PARAM = /<([a-zA-Z][a-zA-Z0-9_]*)>/g;

// Names and types of the parameters a template needs: 'string', 'array' (of
// strings, for {for, in, each}) or 'boolean' (for {if, then, else}).
export const templateParams = (template, out = {}) => {
  if (typeof template === 'string') {
    for (const [, name] of template.matchAll(PARAM)) {
      out[name] = 'string';
    }
  } else if ('AllOf' in template || 'AnyOf' in template) {
    for (const t of template.AllOf || template.AnyOf) {
      templateParams(t, out);
    }
  } else if ('for' in template) {
    const inner = templateParams(template.each, {});
    delete inner[template.for];
    Object.assign(out, inner, { [template.in]: 'array' });
  } else if ('if' in template) {
    templateParams(template.then, out);
    if ('else' in template) {
      templateParams(template.else, out);
    }
    out[template.if] = 'boolean';
  }
  return out;
};

// True when `params` can render the template, i.e. lib-api would check the
// scopes before the handler runs (all parameters come from the URL).
export const canRender = (template, params) =>
  Object.entries(templateParams(template)).every(([name, type]) => {
    const v = params[name];
    if (type === 'string') {
      return typeof v === 'string' || typeof v === 'number';
    }
    if (type === 'array') {
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    }
    return typeof v === 'boolean';
  });

// Renders a template into a scope expression.  A missing string parameter
// becomes '' (as lib-api does); arrays from {for, in, each} are spliced into
// the enclosing AllOf/AnyOf.
export const render = (template, params) => {
  if (typeof template === 'string') {
    return template.replace(PARAM, (text, name) => {
      const v = params[name];
      if (v === undefined) {
        return '';
      }
      if (typeof v !== 'string' && typeof v !== 'number') {
        throw new Error(`scope template parameter ${name} must be a string or number`);
      }
      return String(v);
    });
  }
  for (const op of ['AllOf', 'AnyOf']) {
    if (op in template) {
      const items = [];
      for (const t of template[op]) {
        const r = render(t, params);
        if (Array.isArray(r)) {
          items.push(...r);
        } else if (r !== null) {
          items.push(r);
        }
      }
      return { [op]: items };
    }
  }
  if ('for' in template) {
    const values = params[template.in];
    if (!Array.isArray(values)) {
      throw new Error(`scope template parameter ${template.in} must be an array`);
    }
    return values.map((v) => render(template.each, { ...params, [template.for]: v }));
  }
  if ('if' in template) {
    const v = params[template.if];
    if (v === true) {
      return render(template.then, params);
    }
    return 'else' in template ? render(template.else, params) : null;
  }
  throw new Error(`invalid scope expression template ${JSON.stringify(template)}`);
};

// Role table: roleId -> scopes.  A roleId ending in "*" is granted to anyone
// holding an "assume:" scope with that prefix, like the Auth service's
// parameterised roles (without the <..> substitution, which no test needs).
export class Roles {
  constructor(roles = {}) {
    this.roles = new Map(Object.entries(roles));
  }

  set(roleId, scopes) {
    this.roles.set(roleId, scopes);
  }

  // Expands assume:<role> scopes to a fixpoint.  The loop is bounded by the
  // number of roles, since each pass must add at least one new role.
  expand(scopes) {
    let result = mergeScopeSets([], [...scopes].sort());
    const granted = new Set();
    for (let pass = 0; pass <= this.roles.size; pass++) {
      let added = false;
      for (const [roleId, roleScopes] of this.roles) {
        if (granted.has(roleId)) {
          continue;
        }
        const wanted = 'assume:' + roleId;
        let hit;
        if (roleId.endsWith('*')) {
          const prefix = wanted.slice(0, -1);
          hit = result.some((s) => s.startsWith(prefix) || patternMatch(s, wanted));
        } else {
          hit = result.some((s) => patternMatch(s, wanted));
        }
        if (hit) {
          granted.add(roleId);
          result = mergeScopeSets(result, [...roleScopes].sort());
          added = true;
        }
      }
      if (!added) {
        break;
      }
    }
    return result;
  }
}

// Throws InsufficientScopes with lib-api's message unless `scopes` satisfy
// the expression.
export const authorize = (auth, expression) => {
  if (!expression || satisfiesExpression(auth.scopes, expression)) {
    return;
  }
  throw new ApiError('InsufficientScopes', [
    `Client ID ${auth.clientId} does not have sufficient scopes and is missing the following scopes:`,
    '',
    '```',
    '{{unsatisfied}}',
    '```',
    '',
    'You have the scopes:',
    '',
    '```',
    '{{scopes}}',
    '```',
    '',
    'This request requires you to satisfy this scope expression:',
    '',
    '```',
    '{{required}}',
    '```',
  ].join('\n'), {
    scopes: auth.scopes,
    required: expression,
    unsatisfied: removeGivenScopes(auth.scopes, expression),
  });
};
