#pragma once
// Command-line plumbing shared by the netctl subcommands: option parsing and error lines.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "result.hpp"

namespace netd::netctl {

/// Exit statuses from SPEC.md: 0 success, 1 no reply / loss, 2 usage error or no connection.
enum exit_status : int { exit_ok = 0, exit_failure = 1, exit_usage = 2, exit_no_connection = 2 };

/// One option a subcommand accepts: "-c" (takes a value) or "--json" (a flag).
struct option_spec {
    std::string_view name;
    bool takes_value = false;
};

/// Options and positional arguments as given; the last occurrence of an option wins.
struct parsed_args {
    std::vector<std::string_view> positional;
    std::vector<std::pair<std::string_view, std::string_view>> options;

    /// True if the option was given at all.
    bool has(std::string_view name) const;
    /// The option's value, if it was given.
    std::optional<std::string_view> value(std::string_view name) const;
};

/// Parses argv after the subcommand name. Accepts "-c 5", "-c5", "--opt VALUE", "--opt=VALUE"
/// and "--" to end options; anything else starting with '-' is an error.
proto::result<parsed_args> parse_args(std::span<char* const> args,
                                      std::span<const option_spec> spec);

/// Prints "netctl: <command>: <what> (see 'netctl <command> --help')" and returns exit_usage.
int usage_error(std::string_view command, std::string_view what);

/// Prints "netctl: <what>" on stderr as the one line an error gets.
void print_error(std::string_view what);

/// Peer text fit for an error line: quoted, control bytes as \xNN, cut after 80 bytes.
std::string quoted_peer_text(std::string_view text);

/// Peer or user text fit for a stdout line: control bytes and '\\' as \xNN, nothing cut.
std::string printable_text(std::string_view text);

/// Writes one line to stdout and flushes it, so a line per event shows as it happens, also
/// into a pipe.
void print_line(std::string_view text);

/// One JSON object as a line of text; invalid UTF-8 from a peer becomes U+FFFD, not an error.
std::string json_text(const nlohmann::ordered_json& object);

/// Parses a positive count ("-c 5").
proto::result<std::uint64_t> parse_count(std::string_view text);

}  // namespace netd::netctl
