-- An AOS-like process for the Lua WASM module (lua_handle.c; build.py embeds this file).
--
-- The chunk returns handle(msgJson, envJson) -> the answer as JSON, {"ok":true,"response":R}:
--   * `Eval` from the process owner runs the message's Data as Lua (as `return <Data>` when that
--     compiles, else as a block) in the global environment, so globals persist from message to
--     message; R = {Output = {data = <the value as text>, prompt = "aos> "}, Messages = <what
--     Send queued>, Spawns = [], Assignments = []}
--   * anything else is appended to the global `Inbox`; Output.data is "New Message"
--   * a Lua error (the code's or a bad message's) gives R = {Error = <the message>}
-- `Send{Target = ..., Data = ..., <tag> = <value>...}` queues a legacy message; `print` writes to
-- standard output (WASI fd_write); `Owner` and `ao.id` are the process's owner and ID;
-- `InstanceCalls()` (from lua_handle.c) counts the messages this WASM instance handled.

local json = { null = setmetatable({}, { __tostring = function() return 'null' end }) }

do
  local escapes = {
    ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
  }

  local function escape(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end

  local function encode_string(s)
    if not utf8.len(s) then -- not UTF-8: keep the bytes, read as Latin-1
      s = s:gsub('[\128-\255]', function(c) return utf8.char(c:byte()) end)
    end
    return '"' .. s:gsub('[%c"\\]', escape) .. '"'
  end

  local function encode_number(n)
    if math.type(n) == 'integer' then
      return string.format('%d', n)
    end
    if n ~= n or n == math.huge or n == -math.huge then
      return 'null'
    end
    local short = string.format('%.14g', n)
    return tonumber(short) == n and short or string.format('%.17g', n)
  end

  -- a table whose keys are exactly 1..n (an empty table counts as an array)
  local function array_length(t)
    local n = 0
    for k in pairs(t) do
      if math.type(k) ~= 'integer' or k < 1 then
        return nil
      end
      n = n + 1
    end
    for i = 1, n do
      if t[i] == nil then
        return nil
      end
    end
    return n
  end

  local function encode(value, seen)
    local kind = type(value)
    if value == nil or value == json.null then
      return 'null'
    elseif kind == 'boolean' then
      return tostring(value)
    elseif kind == 'number' then
      return encode_number(value)
    elseif kind == 'string' then
      return encode_string(value)
    elseif kind ~= 'table' then
      return encode_string(tostring(value))
    end
    if seen[value] then
      error('json: cannot encode a table that contains itself', 0)
    end
    seen[value] = true
    local out = {}
    local n = array_length(value)
    if n then
      for i = 1, n do
        out[i] = encode(value[i], seen)
      end
      seen[value] = nil
      return '[' .. table.concat(out, ',') .. ']'
    end
    local keys = {}
    for k in pairs(value) do
      keys[#keys + 1] = { tostring(k), k }
    end
    table.sort(keys, function(a, b) return a[1] < b[1] end)
    for i, key in ipairs(keys) do
      out[i] = encode_string(key[1]) .. ':' .. encode(value[key[2]], seen)
    end
    seen[value] = nil
    return '{' .. table.concat(out, ',') .. '}'
  end

  function json.encode(value)
    return encode(value, {})
  end

  local function fail(pos, what)
    error(string.format('json: %s at byte %d', what, pos), 0)
  end

  local function skip(text, pos)
    return text:find('[^ \t\r\n]', pos) or #text + 1
  end

  local unescape = { b = '\b', f = '\f', n = '\n', r = '\r', t = '\t', ['"'] = '"', ['\\'] = '\\', ['/'] = '/' }

  local function decode_string(text, pos) -- pos: the opening quote
    local parts, i = {}, pos + 1
    while true do
      local j = text:find('["\\]', i)
      if not j then
        fail(pos, 'unterminated string')
      end
      parts[#parts + 1] = text:sub(i, j - 1)
      if text:sub(j, j) == '"' then
        return table.concat(parts), j + 1
      end
      local c = text:sub(j + 1, j + 1)
      if c == 'u' then
        local hex = text:match('^%x%x%x%x', j + 2)
        if not hex then
          fail(j, 'bad \\u escape')
        end
        local code = tonumber(hex, 16)
        i = j + 6
        local low = code >= 0xD800 and code <= 0xDBFF and text:match('^\\u([Dd][C-Fc-f]%x%x)', i)
        if low then -- a surrogate pair
          code = 0x10000 + (code - 0xD800) * 0x400 + (tonumber(low, 16) - 0xDC00)
          i = i + 6
        end
        parts[#parts + 1] = utf8.char(code)
      elseif unescape[c] then
        parts[#parts + 1] = unescape[c]
        i = j + 2
      else
        fail(j, 'bad escape')
      end
    end
  end

  local decode_value

  local function decode_array(text, pos)
    local out, n = {}, 0
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == ']' then
      return out, pos + 1
    end
    while true do
      local value
      value, pos = decode_value(text, pos)
      n = n + 1
      out[n] = value
      pos = skip(text, pos)
      local c = text:sub(pos, pos)
      if c == ']' then
        return out, pos + 1
      elseif c ~= ',' then
        fail(pos, "expected ',' or ']'")
      end
      pos = skip(text, pos + 1)
    end
  end

  local function decode_object(text, pos)
    local out = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == '}' then
      return out, pos + 1
    end
    while true do
      if text:sub(pos, pos) ~= '"' then
        fail(pos, 'expected a key')
      end
      local key, value
      key, pos = decode_string(text, pos)
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= ':' then
        fail(pos, "expected ':'")
      end
      value, pos = decode_value(text, skip(text, pos + 1))
      out[key] = value
      pos = skip(text, pos)
      local c = text:sub(pos, pos)
      if c == '}' then
        return out, pos + 1
      elseif c ~= ',' then
        fail(pos, "expected ',' or '}'")
      end
      pos = skip(text, pos + 1)
    end
  end

  local literals = { ['true'] = true, ['false'] = false, null = json.null }

  function decode_value(text, pos)
    pos = skip(text, pos)
    local c = text:sub(pos, pos)
    if c == '{' then
      return decode_object(text, pos)
    elseif c == '[' then
      return decode_array(text, pos)
    elseif c == '"' then
      return decode_string(text, pos)
    end
    local word = text:match('^%a+', pos)
    if word and literals[word] ~= nil then
      return literals[word], pos + #word
    end
    local number = text:match('^-?%d+%.?%d*[eE]?[-+]?%d*', pos)
    local value = number and tonumber(number)
    if value == nil then
      fail(pos, 'unexpected character')
    end
    return value, pos + #number
  end

  function json.decode(text)
    local value, pos = decode_value(text, 1)
    if skip(text, pos) <= #text then
      fail(pos, 'trailing characters')
    end
    return value
  end
end

JSON = json
Inbox = {}
ao = { id = '' }

local outbox = {}
local reference = 0

-- a value as Output.data: nothing for nil, JSON for tables, tostring otherwise
local function as_text(value)
  if value == nil then
    return ''
  elseif type(value) == 'table' then
    return json.encode(value)
  end
  return tostring(value)
end

function Send(m)
  assert(type(m) == 'table', 'Send needs a table')
  reference = reference + 1
  local tags = {
    { name = 'Data-Protocol', value = 'ao' },
    { name = 'Variant', value = 'ao.TN.1' },
    { name = 'Type', value = 'Message' },
    { name = 'Reference', value = tostring(reference) },
  }
  local names = {}
  for k in pairs(m) do
    if k ~= 'Target' and k ~= 'Data' then
      names[#names + 1] = tostring(k)
    end
  end
  table.sort(names)
  for _, k in ipairs(names) do
    tags[#tags + 1] = { name = k, value = tostring(m[k]) }
  end
  local message = { Target = m.Target, Data = as_text(m.Data), Anchor = string.format('%032d', reference), Tags = tags }
  outbox[#outbox + 1] = message
  return message
end
ao.send = Send

local function eval(code)
  local chunk, err = load('return ' .. code, 'aos', 't')
  if not chunk then
    chunk, err = load(code, 'aos', 't')
  end
  if not chunk then
    error(err, 0)
  end
  return chunk()
end

local function run(msg_json, env_json)
  local msg, env = json.decode(msg_json), json.decode(env_json)
  local process = type(env) == 'table' and type(env.Process) == 'table' and env.Process or {}
  ao.id, ao.env, Owner = process.Id, env, process.Owner
  for _, tag in ipairs(type(msg.Tags) == 'table' and msg.Tags or {}) do
    if type(tag) == 'table' and tag.name ~= nil and msg[tag.name] == nil then
      msg[tag.name] = tag.value
    end
  end
  if msg.Action == 'Eval' and msg.From == process.Owner then
    return { Output = { data = as_text(eval(msg.Data or '')), prompt = 'aos> ' } }
  end
  Inbox[#Inbox + 1] = msg
  return { Output = { data = 'New Message', prompt = 'aos> ' } }
end

return function(msg_json, env_json)
  outbox = {}
  local ok, response = pcall(run, msg_json, env_json)
  if ok then
    response.Messages, response.Spawns, response.Assignments = outbox, {}, {}
  else
    response = { Error = type(response) == 'string' and response or as_text(response) }
  end
  outbox = {}
  io.stdout:flush()
  return json.encode({ ok = true, response = response })
end
