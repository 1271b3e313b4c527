-- Instance policy for Other scriptworker-scripts workers (treescript, addonscript, ...).
-- Select it with `scriptworker --policy policies/scriptworker.lua CONFIG`: the root of
-- every chain this worker verifies is named "scriptworker" and checked as a scriptworker task.
--
-- The product comes from the config's cot_product. To pin one for every
-- worker that uses this file, add for example
--   cot_product = "firefox",
-- (a name from policies/products/); it then wins over the config.
return {
  name = "scriptworker",
  description = "Other scriptworker-scripts workers (treescript, addonscript, ...)",
  cot_job_type = "scriptworker",
}
