# A Rack 2 origin for tests/integration/test_query_names.py and
# test_origin_parsers.py (Debian's ruby-rack on WEBrick): it answers, as JSON,
# what Rack reads as `tr` and the download parameter. Never deployed.
#
#   ruby rack_origin.rb PORT DOWNLOAD_PARAM   (prints "ready PORT" when up)
#
# GET/HEAD any path: Rack::Request#params (Rails <= 6 and Sinatra: GET, that
# is Utils.parse_nested_query of the query, merged with a form body) and
# Utils.parse_query (the flat parser). POST /parse with a JSON list of queries:
# both parsers' readings of each, in one answer (the corpus check).
require "json"
require "rack"
require "webrick"

port = Integer(ARGV.fetch(0))
download = ARGV.fetch(1, "download")

# What an image server takes from a parsed query: the value of `name` (a
# String, an Array or a Hash; nil when there is none), or the error the
# parser raised (Rack answers 400 for those: nothing is served).
def reading(download)
  yield.then { |p| { "tr" => p["tr"], "download" => p[download] } }
rescue StandardError => e
  { "error" => e.class.name }
end

def readings(query, download)
  { "params" => reading(download) { Rack::Utils.parse_nested_query(query) },
    "parse_query" => reading(download) { Rack::Utils.parse_query(query) } }
end

app = lambda do |env|
  req = Rack::Request.new(env)
  body =
    if req.post? && req.path_info == "/parse"
      JSON.parse(req.body.read).map { |q| readings(q, download) }
    else
      r = readings(req.query_string, download)
      r["params"] = reading(download) { req.params }
      { "origin" => "rack", "tr" => r["params"]["tr"], "download" => r["params"]["download"],
        "readings" => r, "query" => req.query_string }
    end
  [200, { "Content-Type" => "application/json" }, [JSON.generate(body)]]
end

server = WEBrick::HTTPServer.new(BindAddress: "127.0.0.1", Port: port, Logger: WEBrick::Log.new(nil, 0),
                                 AccessLog: [],
                                 StartCallback: -> { $stdout.puts("ready #{port}"); $stdout.flush })
server.mount("/", Rack::Handler::WEBrick, app)
trap("TERM") { server.shutdown }
server.start
