-- wrk script: bench/post-order.lua's POST /api/v1/orders (a fresh idempotency
-- key per request), and for every 201 the time its response arrived, as
-- "order_id epoch_seconds" lines in BENCH_TIMES_DIR/thread-<n>.txt. The order
-- committed before its response left the host, so this bounds the commit time
-- from above (bench/messaging.sh). The clock is clock_gettime(CLOCK_REALTIME)
-- through LuaJIT's ffi, the clock the host, Postgres and the consumers use.
-- BENCH_USER, BENCH_PRODUCT, BENCH_TOKEN, BENCH_RUN and BENCH_TIMES_DIR come
-- from the environment.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *ts);
]]
local now_ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(0, now_ts)
  return tonumber(now_ts.tv_sec) + tonumber(now_ts.tv_nsec) / 1e9
end

local user = os.getenv("BENCH_USER")
local product = os.getenv("BENCH_PRODUCT")
local token = os.getenv("BENCH_TOKEN")
local run = os.getenv("BENCH_RUN")
local times_dir = os.getenv("BENCH_TIMES_DIR")

local next_thread = 0
function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
end

local out
function init(args)
  out = assert(io.open(string.format("%s/thread-%d.txt", times_dir, thread_id), "w"))
  out:setvbuf("line")
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

function response(status, headers, body)
  if status == 201 then
    local t = now()
    local id = string.match(body, '"order_id"%s*:%s*"([0-9a-fA-F-]+)"')
    if id then
      out:write(id, " ", string.format("%.6f", t), "\n")
    end
  end
end
