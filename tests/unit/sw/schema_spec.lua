local schema = require("sw.schema")
local json = require("sw.json")
local config = require("sw.config")

describe("sw.schema", function()
  local task_schema, cot_schema
  setup(function()
    task_schema = assert(schema.load(config.data_dir() .. "/scriptworker_task_schema.json"))
    cot_schema = assert(schema.load(config.data_dir() .. "/cot_v1_schema.json"))
  end)

  it("accepts a task with a payload and an integer maxRunTime", function()
    assert.is_true(task_schema(json.decode('{"payload": {"maxRunTime": 600}}')))
    assert.is_true(task_schema(json.decode('{"payload": {}}')))
  end)

  it("refuses a task without payload, naming the property", function()
    local ok, errs = task_schema(json.decode('{"scopes": []}'))
    assert.is_nil(ok)
    assert.are.same({ '(root): required property "payload" is missing' }, errs)
  end)

  it("refuses a string maxRunTime, naming the path", function()
    local ok, errs = task_schema(json.decode('{"payload": {"maxRunTime": "600"}}'))
    assert.is_nil(ok)
    assert.are.same({ "payload.maxRunTime: expected integer, got string" }, errs)
    ok, errs = task_schema(json.decode('{"payload": {"maxRunTime": 1.5}}'))
    assert.is_nil(ok)
    assert.are.same({ "payload.maxRunTime: expected integer, got number" }, errs)
  end)

  it("refuses a payload that is an array", function()
    local ok, errs = task_schema(json.decode('{"payload": []}'))
    assert.is_nil(ok)
    assert.are.same({ "payload: expected object, got array" }, errs)
  end)

  it("checks the chain-of-trust v1 schema", function()
    local body = json.decode([[{"artifacts": {}, "chainOfTrustVersion": 1, "environment": {},
      "runId": 0, "taskId": "abc", "workerGroup": "g", "workerId": "w",
      "task": {"dependencies": ["a", "b"], "payload": {}, "scopes": [], "taskGroupId": "x",
               "workerType": "t"}}]])
    assert.is_true(cot_schema(body))
    body.task.dependencies[2] = "a"
    local ok, errs = cot_schema(body)
    assert.is_nil(ok)
    assert.are.same({ "task.dependencies: items 0 and 1 are equal" }, errs)
    body.task.dependencies = json.array({})
    body.task.scopes = nil
    ok, errs = cot_schema(body)
    assert.is_nil(ok)
    assert.are.same({ 'task: required property "scopes" is missing' }, errs)
  end)

  it("refuses keywords it does not implement", function()
    local v, err = schema.compile({ type = "object", oneOf = {} }, "x.json")
    assert.is_nil(v)
    assert.are.equal('schema x.json: (root): unsupported keyword "oneOf"', err)
  end)

  it("checks enum, pattern, lengths and bounds", function()
    local v = assert(schema.compile(json.decode([[{"type": "object", "properties": {
      "reason": {"enum": ["a", "b"]}, "id": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 3},
      "n": {"type": "integer", "minimum": 1, "maximum": 5}}, "additionalProperties": false}]])))
    assert.is_true(v(json.decode('{"reason": "a", "id": "abc", "n": 5}')))
    local ok, errs = v(json.decode('{"reason": "c", "id": "ABCD", "n": 0, "x": 1}'))
    assert.is_nil(ok)
    assert.are.same({
      "id: longer than 3 characters",
      'id: "ABCD" does not match ^[a-z]+$',
      "n: 0 is less than 1",
      'reason: "c" is not one of ["a","b"]',
      '(root): unexpected property "x"',
    }, errs)
  end)
end)
