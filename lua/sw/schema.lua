-- A JSON-schema checker for the schemas the worker applies to data it did
-- not write (the minimal task schema, the chain-of-trust v1 schema): type,
-- properties, required, additionalProperties, items, uniqueItems, enum,
-- const, pattern, minimum/maximum, minLength/maxLength, minItems/maxItems.
-- Any other keyword is refused when the schema is compiled, so a schema
-- never silently checks less than it says.
local json = require("sw.json")
local regex = require("sw.regex")

local M = {}

local KNOWN = {
  ["$schema"] = true, ["$id"] = true, id = true, title = true, description = true,
  type = true, properties = true, required = true, additionalProperties = true,
  items = true, uniqueItems = true, enum = true, const = true, pattern = true,
  minimum = true, maximum = true, minLength = true, maxLength = true,
  minItems = true, maxItems = true, default = true, examples = true,
}

local function jtype(v)
  local t = json.type(v)
  if t == "number" and math.type(v) == "integer" then
    return "integer"
  end
  return t
end

local function type_ok(want, v)
  local got = jtype(v)
  if want == "number" then
    return got == "number" or got == "integer"
  elseif want == "integer" then
    return got == "integer" or (got == "number" and v == math.floor(v))
  end
  return got == want
end

local function path_join(path, key)
  if type(key) == "number" then
    return string.format("%s[%d]", path, key)
  end
  if path == "" then
    return key
  end
  return path .. "." .. key
end

local function equal(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then
    return a == b
  end
  if json.type(a) ~= json.type(b) then
    return false
  end
  for k, v in pairs(a) do
    if not equal(v, b[k]) then
      return false
    end
  end
  for k in pairs(b) do
    if a[k] == nil then
      return false
    end
  end
  return true
end
M.equal = equal

local function short(v)
  local s = json.encode(v) or tostring(v)
  if #s > 60 then
    s = s:sub(1, 57) .. "..."
  end
  return s
end

local function check(schema, v, path, errors)
  local where = path == "" and "(root)" or path
  if schema.type then
    local types = type(schema.type) == "table" and schema.type or { schema.type }
    local ok = false
    for _, t in ipairs(types) do
      ok = ok or type_ok(t, v)
    end
    if not ok then
      errors[#errors + 1] = string.format("%s: expected %s, got %s",
        where, table.concat(types, " or "), jtype(v) or type(v))
      return
    end
  end
  if schema.enum then
    local ok = false
    for _, e in ipairs(schema.enum) do
      ok = ok or equal(e, v)
    end
    if not ok then
      errors[#errors + 1] = string.format("%s: %s is not one of %s", where, short(v), short(schema.enum))
    end
  end
  if schema.const ~= nil and not equal(schema.const, v) then
    errors[#errors + 1] = string.format("%s: expected %s, got %s", where, short(schema.const), short(v))
  end
  local t = jtype(v)
  if t == "string" then
    local len = utf8.len(v) or #v
    if schema.minLength and len < schema.minLength then
      errors[#errors + 1] = string.format("%s: shorter than %d characters", where, schema.minLength)
    end
    if schema.maxLength and len > schema.maxLength then
      errors[#errors + 1] = string.format("%s: longer than %d characters", where, schema.maxLength)
    end
    if schema.pattern and not regex.search(schema.pattern, v) then
      errors[#errors + 1] = string.format("%s: %s does not match %s", where, short(v), schema.pattern)
    end
  elseif t == "number" or t == "integer" then
    if schema.minimum and v < schema.minimum then
      errors[#errors + 1] = string.format("%s: %s is less than %s", where, short(v), short(schema.minimum))
    end
    if schema.maximum and v > schema.maximum then
      errors[#errors + 1] = string.format("%s: %s is more than %s", where, short(v), short(schema.maximum))
    end
  elseif t == "object" then
    for _, key in ipairs(schema.required or {}) do
      if v[key] == nil then
        errors[#errors + 1] = string.format("%s: required property %q is missing", where, key)
      end
    end
    local props = schema.properties or {}
    local keys = {}
    for key in pairs(v) do
      keys[#keys + 1] = key
    end
    table.sort(keys, function(a, b)
      return tostring(a) < tostring(b)
    end)
    for _, key in ipairs(keys) do
      local sub = props[key]
      if sub then
        check(sub, v[key], path_join(path, key), errors)
      elseif schema.additionalProperties == false then
        errors[#errors + 1] = string.format("%s: unexpected property %q", where, tostring(key))
      elseif type(schema.additionalProperties) == "table" then
        check(schema.additionalProperties, v[key], path_join(path, key), errors)
      end
    end
  elseif t == "array" then
    local n = #v
    if schema.minItems and n < schema.minItems then
      errors[#errors + 1] = string.format("%s: fewer than %d items", where, schema.minItems)
    end
    if schema.maxItems and n > schema.maxItems then
      errors[#errors + 1] = string.format("%s: more than %d items", where, schema.maxItems)
    end
    if schema.items then
      for i = 1, n do
        check(schema.items, v[i], path_join(path, i - 1), errors)
      end
    end
    if schema.uniqueItems then
      for i = 1, n do
        for j = i + 1, n do
          if equal(v[i], v[j]) then
            errors[#errors + 1] = string.format("%s: items %d and %d are equal", where, i - 1, j - 1)
          end
        end
      end
    end
  end
end

local function compile_check(schema, path, problems)
  if type(schema) ~= "table" then
    problems[#problems + 1] = (path == "" and "(root)" or path) .. ": a schema must be an object"
    return
  end
  for k in pairs(schema) do
    if not KNOWN[k] then
      problems[#problems + 1] = string.format("%s: unsupported keyword %q",
        path == "" and "(root)" or path, tostring(k))
    end
  end
  for k, sub in pairs(schema.properties or {}) do
    compile_check(sub, path_join(path, "properties") .. "." .. k, problems)
  end
  if type(schema.items) == "table" then
    compile_check(schema.items, path_join(path, "items"), problems)
  end
  if type(schema.additionalProperties) == "table" then
    compile_check(schema.additionalProperties, path_join(path, "additionalProperties"), problems)
  end
end

-- Returns a validator function(value) -> true | nil, {messages}, "schema",
-- or nil, the problems with the schema itself, "invalid".
function M.compile(schema, name)
  local problems = {}
  compile_check(schema, "", problems)
  if #problems > 0 then
    return nil, string.format("schema %s: %s", name or "?", table.concat(problems, "; ")), "invalid"
  end
  return function(value)
    local errors = {}
    check(schema, value, "", errors)
    if #errors > 0 then
      return nil, errors, "schema"
    end
    return true
  end
end

function M.load(path)
  local schema, err, code = json.decode_file(path)
  if not schema then
    return nil, err, code
  end
  return M.compile(schema, path)
end

return M
