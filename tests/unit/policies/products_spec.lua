-- policies/products/*.lua hold the Python DEFAULT_CONFIG by-cot-product
-- values: every key and value must equal the defaults' for that product
-- (lua/sw/data/default-config.json, the config module's copy, and the shared
-- conformance copy when present), and the products must be the same set.
local policy = require("sw.policy")
local json = require("sw.json")
local support = require("support")

local SHIPPED = support.root .. "/policies"

-- The first difference between a policy value and a JSON value, as a path,
-- or nil. Metatables (the JSON array/object marks) are ignored; an empty
-- JSON array or object equals an empty Lua table.
local function difference(a, b, path)
  if type(a) ~= "table" or type(b) ~= "table" then
    if a ~= b then
      return string.format("%s: %s ~= %s", path, tostring(a), tostring(b))
    end
    return nil
  end
  for k, v in pairs(a) do
    local d = difference(v, b[k], path .. "[" .. tostring(k) .. "]")
    if d then
      return d
    end
  end
  for k in pairs(b) do
    if a[k] == nil then
      return path .. "[" .. tostring(k) .. "]: missing from the policy"
    end
  end
  return nil
end

local function by_product(defaults)
  local products, keys = {}, {}
  for key, value in pairs(defaults) do
    if type(value) == "table" and type(value["by-cot-product"]) == "table" then
      keys[#keys + 1] = key
      for product in pairs(value["by-cot-product"]) do
        products[product] = true
      end
    end
  end
  table.sort(keys)
  return products, keys
end

local sources = { { "lua/sw/data/default-config.json", support.root .. "/lua/sw/data/default-config.json" } }
local shared = support.shared .. "/conformance/scriptworker/default-config.json"
if io.open(shared) then
  sources[#sources + 1] = { "shared conformance default-config.json", shared }
end

describe("policies/products", function()
  local set = assert(policy.load(SHIPPED))

  for _, source in ipairs(sources) do
    describe("against " .. source[1], function()
      local defaults = assert(json.decode_file(source[2])).DEFAULT_CONFIG
      local products, keys = by_product(defaults)

      it("defines exactly the products of the defaults", function()
        local want, have = {}, {}
        for p in pairs(products) do
          want[#want + 1] = p
        end
        for p in pairs(set.products) do
          have[#have + 1] = p
        end
        table.sort(want)
        table.sort(have)
        assert.equal(11, #want)
        assert.same(want, have)
      end)

      for product in pairs(products) do
        it("holds the by-cot-product values of " .. product, function()
          local p = set.products[product]
          assert.is_table(p)
          for _, key in ipairs(keys) do
            local expected = defaults[key]["by-cot-product"][product]
            assert.is_nil(difference(p[key], expected, product .. "." .. key))
          end
          -- Nothing beyond those keys but name and description.
          for k in pairs(p) do
            if k ~= "name" and k ~= "description" then
              assert.is_table(defaults[k], product .. "." .. k .. " is not a config key")
              assert.is_table(defaults[k]["by-cot-product"], product .. "." .. k .. " is not by-cot-product")
            end
          end
        end)
      end
    end)
  end

  it("notices a drifted value", function()
    local defaults = assert(json.decode_file(sources[1][2])).DEFAULT_CONFIG
    local firefox = set.products.firefox
    local copy = {}
    for i, v in ipairs(firefox.valid_tasks_for) do
      copy[i] = v
    end
    copy[#copy + 1] = "github-push"
    assert.equal("firefox.valid_tasks_for[4]: github-push ~= nil",
      difference(copy, defaults.valid_tasks_for["by-cot-product"].firefox, "firefox.valid_tasks_for"))
  end)
end)
