-- A Respan partial update with a new price each time, so every request really writes (a PATCH
-- that changes nothing writes nothing).
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  local body = string.format('{"output_cost": %d.%06d}', n, math.random(0, 999999))
  return wrk.format(nil, nil, nil, body)
end
