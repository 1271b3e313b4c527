-- Instance policy for balrogscript workers: publish update information to Balrog.
-- Select it with `scriptworker --policy policies/balrog.lua CONFIG`: the root of
-- every chain this worker verifies is named "balrog" and checked as a balrog task.
--
-- The product comes from the config's cot_product. To pin one for every
-- worker that uses this file, add for example
--   cot_product = "firefox",
-- (a name from policies/products/); it then wins over the config.
return {
  name = "balrog",
  description = "balrogscript workers: publish update information to Balrog",
  cot_job_type = "balrog",
}
