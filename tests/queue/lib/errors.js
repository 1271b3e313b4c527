// Errors in the shape lib-api sends: {code, message, requestInfo}, the
// message rendered from a template with {{key}} placeholders and followed by
// the "---" trailer naming method, code, status and time.
export const ERROR_CODES = {
  MalformedPayload: 400,
  InvalidRequestArguments: 400,
  InputValidationError: 400,
  InputError: 400,
  AuthenticationFailed: 401,
  InsufficientScopes: 403,
  ResourceNotFound: 404,
  RequestConflict: 409,
  ResourceExpired: 410,
  NoMatchingMethod: 406,
  InputTooLarge: 413,
  InternalServerError: 500,
};

export class ApiError extends Error {
  constructor(code, template, details = {}) {
    super(template);
    if (!(code in ERROR_CODES)) {
      throw new Error(`unknown API error code ${code}`);
    }
    this.code = code;
    this.status = ERROR_CODES[code];
    this.details = details;
  }
}

export const renderTemplate = (template, details) =>
  template.replace(/{{([a-zA-Z0-9_-]+)}}/g, (text, key) => {
    let value = key in details ? details[key] : text;
    if (typeof value !== 'string') {
      value = JSON.stringify(value, null, 2);
    }
    return value;
  });

// Builds the JSON body for an ApiError.  `time` is the emulator clock's ISO
// string, so requestInfo.time agrees with the timestamps in responses.
export const errorBody = (err, { method, params, payload, time }) => {
  const requestInfo = { method, params, payload, time };
  const message = renderTemplate(err.message, err.details) + [
    '\n\n---\n',
    `* method:     ${method}`,
    `* errorCode:  ${err.code}`,
    `* statusCode: ${err.status}`,
    `* time:       ${time}`,
  ].join('\n');
  return { code: err.code, message, requestInfo };
};
