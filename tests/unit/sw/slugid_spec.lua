local slugid = require("sw.slugid")
local regex = require("sw.regex")

describe("sw.slugid", function()
  it("makes slugids that match Taskcluster's pattern", function()
    local seen = {}
    for _ = 1, 200 do
      for _, id in ipairs({ slugid.v4(), slugid.nice() }) do
        assert.are.equal(22, #id)
        assert.truthy(regex.fullmatch(slugid.PATTERN, id), id)
        assert.is_nil(seen[id])
        seen[id] = true
      end
    end
  end)

  it("nice ids never start with a dash", function()
    for _ = 1, 200 do
      assert.matches("^[A-Za-f]", slugid.nice())
    end
  end)
end)
