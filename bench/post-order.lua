-- wrk script: POST /api/v1/orders with a fresh idempotency key per request.
-- BENCH_USER, BENCH_PRODUCT, BENCH_TOKEN and BENCH_RUN come from the environment.
local user = os.getenv("BENCH_USER")
local product = os.getenv("BENCH_PRODUCT")
local token = os.getenv("BENCH_TOKEN")
local run = os.getenv("BENCH_RUN")

local next_thread = 0
function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local counter = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. token,
}

function request()
  counter = counter + 1
  local body = string.format(
    '{"idempotency_key":"bench-%s-%d-%d","user_id":"%s","product_id":"%s","quantity":1}',
    run, thread_id, counter, user, product)
  return wrk.format("POST", "/api/v1/orders", headers, body)
end
