-- Instance policy for shipitscript workers: update the Ship It release workflow.
-- Select it with `scriptworker --policy policies/shipit.lua CONFIG`: the root of
-- every chain this worker verifies is named "shipit" and checked as a shipit task.
--
-- The product comes from the config's cot_product. To pin one for every
-- worker that uses this file, add for example
--   cot_product = "firefox",
-- (a name from policies/products/); it then wins over the config.
return {
  name = "shipit",
  description = "shipitscript workers: update the Ship It release workflow",
  cot_job_type = "shipit",
}
