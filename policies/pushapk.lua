-- Instance policy for pushapkscript workers: publish Android packages to the stores.
-- Select it with `scriptworker --policy policies/pushapk.lua CONFIG`: the root of
-- every chain this worker verifies is named "pushapk" and checked as a pushapk task.
--
-- The product comes from the config's cot_product. To pin one for every
-- worker that uses this file, add for example
--   cot_product = "firefox",
-- (a name from policies/products/); it then wins over the config.
return {
  name = "pushapk",
  description = "pushapkscript workers: publish Android packages to the stores",
  cot_job_type = "pushapk",
}
