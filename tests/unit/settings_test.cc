// ParseArgs: defaults, every flag, OA_* environment variables, precedence, and the one
// InvalidArgument naming the setting that a bad value gives.
#include "config/settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace oa::config {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::StatusOr<ParsedArgs> Parse(const std::vector<std::string>& args,
                                 const std::vector<std::string>& env = {}) {
  std::vector<const char*> argv = {"oa-bypass"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  return ParseArgs(static_cast<int>(argv.size()) - 1, argv.data(), env);
}

Settings ParseOk(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  absl::StatusOr<ParsedArgs> parsed = Parse(args, env);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? parsed->settings : Settings{};
}

TEST(Settings, Defaults) {
  absl::StatusOr<ParsedArgs> parsed = Parse({});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->show_help);
  EXPECT_FALSE(parsed->help.empty());
  const Settings& s = parsed->settings;
  EXPECT_EQ(s.listen_host, "0.0.0.0");
  EXPECT_EQ(s.listen_port, 8080);
  EXPECT_EQ(s.upstream, "https://api.openai.com/v1");
  EXPECT_EQ(s.upstream_ca_file, "");
  EXPECT_EQ(s.log_level, "info");
  EXPECT_EQ(s.workers, 0);
  EXPECT_THAT(s.cors_origins, ElementsAre("*"));
  EXPECT_FALSE(s.reject_unmodelled);
  EXPECT_EQ(s.max_body_bytes, uint64_t{1} << 30);
  EXPECT_EQ(s.max_header_bytes, 64u * 1024);
  EXPECT_EQ(s.client_header_timeout, absl::Seconds(30));
  EXPECT_EQ(s.client_idle_timeout, absl::Seconds(75));
  EXPECT_EQ(s.client_io_timeout, absl::Seconds(300));
  EXPECT_EQ(s.upstream_connect_timeout, absl::Seconds(10));
  EXPECT_EQ(s.upstream_first_byte_timeout, absl::Seconds(600));
  EXPECT_EQ(s.upstream_idle_timeout, absl::Seconds(300));
  EXPECT_EQ(s.upstream_pool_max_idle, 64);
  EXPECT_EQ(s.upstream_pool_idle_timeout, absl::Seconds(50));
}

TEST(Settings, DefaultsMatchTheStruct) {
  // The --help defaults and Settings{} must not drift apart.
  const Settings parsed = ParseOk({});
  const Settings plain;
  EXPECT_EQ(parsed.listen_host, plain.listen_host);
  EXPECT_EQ(parsed.listen_port, plain.listen_port);
  EXPECT_EQ(parsed.cors_origins, plain.cors_origins);
  EXPECT_EQ(parsed.max_body_bytes, plain.max_body_bytes);
  EXPECT_EQ(parsed.max_header_bytes, plain.max_header_bytes);
  EXPECT_EQ(parsed.client_header_timeout, plain.client_header_timeout);
  EXPECT_EQ(parsed.client_idle_timeout, plain.client_idle_timeout);
  EXPECT_EQ(parsed.client_io_timeout, plain.client_io_timeout);
  EXPECT_EQ(parsed.upstream_connect_timeout, plain.upstream_connect_timeout);
  EXPECT_EQ(parsed.upstream_first_byte_timeout, plain.upstream_first_byte_timeout);
  EXPECT_EQ(parsed.upstream_idle_timeout, plain.upstream_idle_timeout);
  EXPECT_EQ(parsed.upstream_pool_idle_timeout, plain.upstream_pool_idle_timeout);
}

TEST(Settings, EveryFlag) {
  const Settings s = ParseOk({
      "--listen=127.0.0.1:9090",
      "--upstream",
      "http://localhost:4010/v1",
      "--upstream-ca-file=/etc/ca.pem",
      "--log-level=debug",
      "--workers=3",
      "--cors-origins=https://a.example",
      "--reject-unmodelled=true",
      "--max-body-bytes=1048576",
      "--max-header-bytes=8KiB",
      "--client-header-timeout=5s",
      "--client-idle-timeout=6s",
      "--client-io-timeout=7s",
      "--upstream-connect-timeout=8s",
      "--upstream-first-byte-timeout=9s",
      "--upstream-idle-timeout=10s",
      "--upstream-pool-max-idle=11",
      "--upstream-pool-idle-timeout=12s",
  });
  EXPECT_EQ(s.listen_host, "127.0.0.1");
  EXPECT_EQ(s.listen_port, 9090);
  EXPECT_EQ(s.upstream, "http://localhost:4010/v1");
  EXPECT_EQ(s.upstream_ca_file, "/etc/ca.pem");
  EXPECT_EQ(s.log_level, "debug");
  EXPECT_EQ(s.workers, 3);
  EXPECT_THAT(s.cors_origins, ElementsAre("https://a.example"));
  EXPECT_TRUE(s.reject_unmodelled);
  EXPECT_EQ(s.max_body_bytes, 1048576u);
  EXPECT_EQ(s.max_header_bytes, 8192u);
  EXPECT_EQ(s.client_header_timeout, absl::Seconds(5));
  EXPECT_EQ(s.client_idle_timeout, absl::Seconds(6));
  EXPECT_EQ(s.client_io_timeout, absl::Seconds(7));
  EXPECT_EQ(s.upstream_connect_timeout, absl::Seconds(8));
  EXPECT_EQ(s.upstream_first_byte_timeout, absl::Seconds(9));
  EXPECT_EQ(s.upstream_idle_timeout, absl::Seconds(10));
  EXPECT_EQ(s.upstream_pool_max_idle, 11);
  EXPECT_EQ(s.upstream_pool_idle_timeout, absl::Seconds(12));
}

TEST(Settings, AdmissionFlagsAndTheirEnvironment) {
  const Settings s =
      ParseOk({"--allow-keys=0a1b2c3d, ffffffff", "--rate-limit-rpm=600", "--rate-limit-burst=50",
               "--rate-limit-by=key,client", "--rate-limit-redis=redis://cache:6379/2",
               "--rate-limit-redis-timeout=250ms", "--rate-limit-fail-open=false"},
              {"OA_ALLOW_NETWORKS=10.0.0.0/8,fd00::/8", "OA_RATE_LIMIT_CONCURRENT=4"});
  EXPECT_THAT(s.allow_keys, ElementsAre("0a1b2c3d", "ffffffff"));
  EXPECT_THAT(s.allow_networks, ElementsAre("10.0.0.0/8", "fd00::/8"));
  EXPECT_EQ(s.rate_limit_rpm, 600);
  EXPECT_EQ(s.rate_limit_burst, 50);
  EXPECT_EQ(s.rate_limit_concurrent, 4);
  EXPECT_THAT(s.rate_limit_by, ElementsAre("key", "client"));
  EXPECT_EQ(s.rate_limit_redis, "redis://cache:6379/2");
  EXPECT_EQ(s.rate_limit_redis_timeout, absl::Milliseconds(250));
  EXPECT_FALSE(s.rate_limit_fail_open);
}

TEST(Settings, ListenAcceptsBracketedIpv6) {
  const Settings s = ParseOk({"--listen=[::1]:8081"});
  EXPECT_EQ(s.listen_host, "::1");
  EXPECT_EQ(s.listen_port, 8081);
}

TEST(Settings, ListenAcceptsPortZero) {
  // Port 0 lets tests bind an ephemeral port.
  EXPECT_EQ(ParseOk({"--listen=127.0.0.1:0"}).listen_port, 0);
}

TEST(Settings, TlsCertAndKeyGoTogether) {
  EXPECT_EQ(ParseOk({}).tls_cert, "");
  const Settings s = ParseOk({"--tls-cert=/c.pem"}, {"OA_TLS_KEY=/k.pem"});
  EXPECT_EQ(s.tls_cert, "/c.pem");
  EXPECT_EQ(s.tls_key, "/k.pem");
  const std::pair<std::vector<std::string>, const char*> halves[] = {
      {{"--tls-cert=/c.pem"}, "--tls-key: required with --tls-cert"},
      {{"--tls-key=/k.pem"}, "--tls-cert: required with --tls-key"},
  };
  for (const auto& [args, message] : halves) {
    absl::StatusOr<ParsedArgs> parsed = Parse(args);
    ASSERT_FALSE(parsed.ok()) << message;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(parsed.status().message(), message);
  }
  EXPECT_THAT(Parse({})->help, ::testing::AllOf(HasSubstr("--tls-cert"), HasSubstr("--tls-key")));
}

TEST(Settings, EnvironmentVariablesMapToOptions) {
  const Settings s = ParseOk({}, {
                                     "OA_LOG_LEVEL=warn",
                                     "OA_UPSTREAM_POOL_MAX_IDLE=7",
                                     "OA_LISTEN=127.0.0.1:7000",
                                     "OA_UPSTREAM=http://mock:4010/v1",
                                     "OA_UPSTREAM_CA_FILE=/ca.pem",
                                     "OA_WORKERS=2",
                                     "OA_CORS_ORIGINS=https://x.example,https://y.example",
                                     "OA_REJECT_UNMODELLED=true",
                                     "OA_MAX_BODY_BYTES=2MiB",
                                     "OA_MAX_HEADER_BYTES=16KiB",
                                     "OA_CLIENT_IDLE_TIMEOUT=500ms",
                                     "OA_UPSTREAM_FIRST_BYTE_TIMEOUT=45",
                                 });
  EXPECT_EQ(s.log_level, "warn");
  EXPECT_EQ(s.upstream_pool_max_idle, 7);
  EXPECT_EQ(s.listen_host, "127.0.0.1");
  EXPECT_EQ(s.listen_port, 7000);
  EXPECT_EQ(s.upstream, "http://mock:4010/v1");
  EXPECT_EQ(s.upstream_ca_file, "/ca.pem");
  EXPECT_EQ(s.workers, 2);
  EXPECT_THAT(s.cors_origins, ElementsAre("https://x.example", "https://y.example"));
  EXPECT_TRUE(s.reject_unmodelled);
  EXPECT_EQ(s.max_body_bytes, 2u << 20);
  EXPECT_EQ(s.max_header_bytes, 16u << 10);
  EXPECT_EQ(s.client_idle_timeout, absl::Milliseconds(500));
  EXPECT_EQ(s.upstream_first_byte_timeout, absl::Seconds(45));
}

TEST(Settings, EnvironmentValueMayContainEquals) {
  EXPECT_EQ(ParseOk({}, {"OA_UPSTREAM_CA_FILE=/x=y.pem"}).upstream_ca_file, "/x=y.pem");
}

// Compose's "${OA_RATE_LIMIT_REDIS:-}" passes an empty variable when the host has none:
// it must mean unset, not a value (an empty value stopped start-up before).
TEST(Settings, EmptyEnvironmentVariablesAreUnset) {
  const Settings s = ParseOk(
      {},
      {"OA_RATE_LIMIT_REDIS=", "OA_LOG_LEVEL=", "OA_WORKERS=", "OA_TLS_CERT=", "OA_CORS_ORIGINS="});
  const Settings defaults = ParseOk({}, {});
  EXPECT_EQ(s.rate_limit_redis, defaults.rate_limit_redis);
  EXPECT_EQ(s.log_level, defaults.log_level);
  EXPECT_EQ(s.workers, defaults.workers);
  EXPECT_EQ(s.tls_cert, defaults.tls_cert);
  // An empty flag is still the user's own choice, and says what is wrong with it.
  EXPECT_FALSE(Parse({"--workers="}, {}).ok());
}

TEST(Settings, FlagBeatsEnvironment) {
  const Settings s =
      ParseOk({"--log-level=error", "--workers", "4"}, {"OA_LOG_LEVEL=debug", "OA_WORKERS=9"});
  EXPECT_EQ(s.log_level, "error");
  EXPECT_EQ(s.workers, 4);
}

TEST(Settings, EnvironmentBeatsDefault) {
  EXPECT_EQ(ParseOk({"--workers=1"}, {"OA_LOG_LEVEL=debug"}).log_level, "debug");
}

TEST(Settings, UnknownOrForeignEnvironmentIsIgnored) {
  absl::StatusOr<ParsedArgs> parsed = Parse({}, {
                                                    "OA_NOT_A_SETTING=1",
                                                    "OA_HELP=1",
                                                    "OA_=x",
                                                    "OA_LOG_LEVEL",
                                                    "oa_log_level=debug",
                                                    "XOA_LOG_LEVEL=debug",
                                                    "PATH=/usr/bin:/bin",
                                                    "HOME=/root",
                                                    "",
                                                });
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->show_help);
  EXPECT_EQ(parsed->settings.log_level, "info");
}

TEST(Settings, UnknownFlagIsAnError) {
  absl::StatusOr<ParsedArgs> parsed = Parse({"--no-such-flag=1"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("no-such-flag"));
}

TEST(Settings, DurationForms) {
  EXPECT_EQ(ParseOk({"--client-header-timeout=30s"}).client_header_timeout, absl::Seconds(30));
  EXPECT_EQ(ParseOk({"--client-header-timeout=500ms"}).client_header_timeout,
            absl::Milliseconds(500));
  EXPECT_EQ(ParseOk({"--client-header-timeout=45"}).client_header_timeout, absl::Seconds(45));
  EXPECT_EQ(ParseOk({"--client-header-timeout=10m"}).client_header_timeout, absl::Minutes(10));
  EXPECT_EQ(ParseOk({"--client-header-timeout=1m30s"}).client_header_timeout, absl::Seconds(90));
  EXPECT_EQ(ParseOk({"--client-header-timeout=1.5s"}).client_header_timeout,
            absl::Milliseconds(1500));
}

TEST(Settings, DurationUpToAYear) {
  // Deadlines add the duration to the steady clock, so it must stay finite and sane.
  EXPECT_EQ(ParseOk({"--upstream-idle-timeout=8760h"}).upstream_idle_timeout, absl::Hours(8760));
  EXPECT_FALSE(Parse({"--upstream-idle-timeout=8761h"}).ok());
}

TEST(Settings, ByteSizeForms) {
  EXPECT_EQ(ParseOk({"--max-body-bytes=64KiB"}).max_body_bytes, 65536u);
  EXPECT_EQ(ParseOk({"--max-body-bytes=600MiB"}).max_body_bytes, 600u << 20);
  EXPECT_EQ(ParseOk({"--max-body-bytes=2GiB"}).max_body_bytes, uint64_t{2} << 30);
  EXPECT_EQ(ParseOk({"--max-body-bytes=12345"}).max_body_bytes, 12345u);
  EXPECT_EQ(ParseOk({"--max-header-bytes=16MiB"}).max_header_bytes, 16u << 20);
}

TEST(Settings, CorsOriginsSplitAndTrim) {
  EXPECT_THAT(ParseOk({"--cors-origins=a, b"}).cors_origins, ElementsAre("a", "b"));
  EXPECT_THAT(ParseOk({"--cors-origins= https://a.example ,,https://b.example , "}).cors_origins,
              ElementsAre("https://a.example", "https://b.example"));
}

TEST(Settings, HelpFlag) {
  for (const char* flag : {"--help", "-h"}) {
    absl::StatusOr<ParsedArgs> parsed = Parse({flag});
    ASSERT_TRUE(parsed.ok()) << flag << ": " << parsed.status();
    EXPECT_TRUE(parsed->show_help) << flag;
  }
}

TEST(Settings, HelpMentionsEveryOption) {
  absl::StatusOr<ParsedArgs> parsed = Parse({"--help"});
  ASSERT_TRUE(parsed.ok());
  for (const char* option : {"--help",
                             "--listen",
                             "--grpc-listen",
                             "--upstream",
                             "--upstream-ca-file",
                             "--log-level",
                             "--log-format",
                             "--workers",
                             "--cors-origins",
                             "--reject-unmodelled",
                             "--max-body-bytes",
                             "--max-header-bytes",
                             "--client-header-timeout",
                             "--client-idle-timeout",
                             "--client-io-timeout",
                             "--upstream-connect-timeout",
                             "--upstream-first-byte-timeout",
                             "--upstream-idle-timeout",
                             "--upstream-pool-max-idle",
                             "--upstream-pool-idle-timeout",
                             "OA_LOG_LEVEL"}) {
    EXPECT_THAT(parsed->help, HasSubstr(option));
  }
}

TEST(Settings, HelpTextIsFilledWithoutHelpFlag) {
  absl::StatusOr<ParsedArgs> parsed = Parse({});
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(parsed->help, HasSubstr("--upstream"));
}

// A bad value is one InvalidArgument whose message names the setting.
struct BadValue {
  std::vector<std::string> args;
  std::vector<std::string> env;
  const char* named;
};

void PrintTo(const BadValue& v, std::ostream* os) {
  *os << ::testing::PrintToString(v.args) << " env " << ::testing::PrintToString(v.env);
}

class SettingsRejects : public ::testing::TestWithParam<BadValue> {};

TEST_P(SettingsRejects, NamingTheSetting) {
  absl::StatusOr<ParsedArgs> parsed = Parse(GetParam().args, GetParam().env);
  ASSERT_FALSE(parsed.ok()) << ::testing::PrintToString(GetParam().args)
                            << ::testing::PrintToString(GetParam().env);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().named));
  EXPECT_EQ(parsed.status().message().find('\n'), absl::string_view::npos)
      << "one line: " << parsed.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Settings, SettingsRejects,
    ::testing::Values(
        BadValue{{"--listen=8080"}, {}, "listen"}, BadValue{{"--listen=:8080"}, {}, "listen"},
        BadValue{{"--listen=host:"}, {}, "listen"}, BadValue{{"--listen=host:http"}, {}, "listen"},
        BadValue{{"--listen=host:65536"}, {}, "listen"},
        BadValue{{"--listen=host:-1"}, {}, "listen"}, BadValue{{}, {"OA_LISTEN=nocolon"}, "listen"},
        BadValue{{"--client-idle-timeout=soon"}, {}, "client-idle-timeout"},
        BadValue{{"--client-idle-timeout=0"}, {}, "client-idle-timeout"},
        BadValue{{"--client-idle-timeout=0s"}, {}, "client-idle-timeout"},
        BadValue{{"--client-idle-timeout=-5s"}, {}, "client-idle-timeout"},
        BadValue{{"--upstream-connect-timeout=10 s"}, {}, "upstream-connect-timeout"},
        BadValue{{"--client-io-timeout=inf"}, {}, "client-io-timeout"},
        BadValue{{"--client-io-timeout=1000000h"}, {}, "client-io-timeout"},
        BadValue{{"--client-io-timeout=9223372036854775807"}, {}, "client-io-timeout"},
        BadValue{{"--client-io-timeout=18446744073709551615"}, {}, "client-io-timeout"},
        BadValue{{"--upstream-pool-idle-timeout="}, {}, "upstream-pool-idle-timeout"},
        BadValue{{}, {"OA_UPSTREAM_IDLE_TIMEOUT=forever"}, "upstream-idle-timeout"},
        BadValue{{"--max-body-bytes=12XB"}, {}, "max-body-bytes"},
        BadValue{{"--max-body-bytes=0"}, {}, "max-body-bytes"},
        BadValue{{"--max-body-bytes=-1"}, {}, "max-body-bytes"},
        BadValue{{"--max-body-bytes=KiB"}, {}, "max-body-bytes"},
        BadValue{{"--max-body-bytes=1.5MiB"}, {}, "max-body-bytes"},
        BadValue{{"--max-body-bytes=99999999999999999999"}, {}, "max-body-bytes"},
        BadValue{{"--max-body-bytes=17179869184GiB"}, {}, "max-body-bytes"},
        BadValue{{"--max-header-bytes=64kb"}, {}, "max-header-bytes"},
        BadValue{{"--max-header-bytes=17MiB"}, {}, "max-header-bytes"},
        BadValue{{"--rate-limit-rpm=-1"}, {}, "rate-limit-rpm"},
        BadValue{{"--rate-limit-concurrent=-3"}, {}, "rate-limit-concurrent"},
        BadValue{{"--rate-limit-by=user"}, {}, "rate-limit-by"},
        BadValue{{"--rate-limit-by=,"}, {}, "rate-limit-by"},
        BadValue{{"--rate-limit-redis=cache:6379"}, {}, "rate-limit-redis"},
        BadValue{{}, {"OA_RATE_LIMIT_REDIS_TIMEOUT=0"}, "rate-limit-redis-timeout"},
        BadValue{{"--workers=-1"}, {}, "workers"}, BadValue{{"--workers", "-1"}, {}, "workers"},
        BadValue{{"--workers=abc"}, {}, "workers"}, BadValue{{"--workers=5000"}, {}, "workers"},
        BadValue{{}, {"OA_WORKERS=many"}, "workers"},
        BadValue{{"--upstream-pool-max-idle=-1"}, {}, "upstream-pool-max-idle"},
        BadValue{{"--cors-origins= , "}, {}, "cors-origins"},
        BadValue{{"--reject-unmodelled=maybe"}, {}, "reject-unmodelled"},
        BadValue{{"--log-format=xml"}, {}, "log-format"},
        BadValue{{}, {"OA_LOG_FORMAT=JSONL"}, "log-format"},
        BadValue{{"--grpc-listen=50051"}, {}, "grpc-listen"},
        BadValue{{"--grpc-listen=host:99999"}, {}, "grpc-listen"}));

// ---- the --config file ------------------------------------------------------------------

// A file in the test's temporary folder, removed when the test ends.
class ConfigFile : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = ::testing::TempDir() + name;
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  ~ConfigFile() override {
    for (const std::string& p : paths_) std::remove(p.c_str());
  }
  std::vector<std::string> paths_;
};

TEST_F(ConfigFile, TomlSetsOptionsThatFlagsAndEnvironmentStillBeat) {
  const std::string path = Write("oa.toml", R"(
listen = "127.0.0.1:9100"
workers = 3
log-level = "warn"
reject-unmodelled = true
cors-origins = ["https://a.example", "https://b.example"]
upstream-first-byte-timeout = "2m"
)");
  const Settings s = ParseOk({"--config", path, "--workers", "5"}, {"OA_LOG_LEVEL=error"});
  EXPECT_EQ(s.listen_port, 9100);
  EXPECT_EQ(s.workers, 5);          // the flag wins
  EXPECT_EQ(s.log_level, "error");  // the environment wins
  EXPECT_TRUE(s.reject_unmodelled);
  EXPECT_THAT(s.cors_origins, ::testing::ElementsAre("https://a.example", "https://b.example"));
  EXPECT_EQ(s.upstream_first_byte_timeout, absl::Minutes(2));
}

TEST_F(ConfigFile, YamlWorksTooAndComesFromTheEnvironment) {
  const std::string path = Write("oa.yaml",
                                 "listen: 127.0.0.1:9200\n"
                                 "cors-origins: [https://c.example]\n"
                                 "drain-timeout: 5s\n");
  const Settings s = ParseOk({}, {"OA_CONFIG=" + path});
  EXPECT_EQ(s.listen_port, 9200);
  EXPECT_THAT(s.cors_origins, ::testing::ElementsAre("https://c.example"));
  EXPECT_EQ(s.drain_timeout, absl::Seconds(5));
}

TEST_F(ConfigFile, MistakesStopStartUpNamingTheFileAndTheSetting) {
  const std::pair<std::string, std::string> cases[] = {
      {"unknown.toml", "listne = \"x\"\n"},
      {"broken.toml", "listen = \n"},
      {"nested.toml", "[upstream]\nurl = \"x\"\n"},
      {"badvalue.yaml", "workers: -3\n"},
      {"notamap.yaml", "- a\n- b\n"},
  };
  for (const auto& [name, text] : cases) {
    const std::string path = Write(name, text);
    absl::StatusOr<ParsedArgs> parsed = Parse({"--config", path});
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << name;
    if (name != "badvalue.yaml") {
      EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(path)) << name;
    } else {
      EXPECT_THAT(std::string(parsed.status().message()), HasSubstr("workers")) << name;
    }
  }
  EXPECT_THAT(
      std::string(Parse({"--config", Write("u.toml", "listne = \"x\"\n")}).status().message()),
      HasSubstr("unknown setting 'listne'"));
  EXPECT_FALSE(Parse({"--config", ::testing::TempDir() + "missing.toml"}).ok());
  EXPECT_FALSE(Parse({"--config", Write("oa.ini", "listen=1\n")}).ok());
}

TEST_F(ConfigFile, PrintConfigShowsWhatIsInEffectMasksPasswordsAndReadsBack) {
  absl::StatusOr<ParsedArgs> parsed =
      Parse({"--print-config", "--workers", "7", "--upstream", "https://me:s3cret@llm.example/v1"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->print_config);
  EXPECT_THAT(parsed->effective, HasSubstr("workers = 7\n"));
  EXPECT_THAT(parsed->effective, HasSubstr("upstream = \"https://me:***@llm.example/v1\"\n"));
  EXPECT_THAT(parsed->effective, HasSubstr("drain-timeout = \"30s\"\n"));
  EXPECT_EQ(parsed->effective.find("s3cret"), std::string::npos);
  for (const char* redis : {"redis://:s3cret@cache:6379/1", "redis://s3cret@cache:6379/1"}) {
    parsed = Parse({"--print-config", "--rate-limit-redis", redis});
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_THAT(parsed->effective, HasSubstr("@cache:6379/1\"\n")) << redis;
    EXPECT_EQ(parsed->effective.find("s3cret"), std::string::npos) << redis;
  }
  // The printed file is a config file: reading it back gives the same settings.
  const std::string path = Write("printed.toml", Parse({"--workers", "7"})->effective);
  absl::StatusOr<ParsedArgs> again = Parse({"--config", path});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->settings.workers, 7);
  EXPECT_EQ(again->effective, Parse({"--workers", "7"})->effective);
}

}  // namespace
}  // namespace oa::config
