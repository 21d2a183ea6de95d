#include "cli.hpp"

#include <fmt/core.h>

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace netd::netctl {
namespace {

const option_spec* find_spec(std::span<const option_spec> spec, std::string_view name) {
    for (const auto& s : spec)
        if (s.name == name) return &s;
    return nullptr;
}

}  // namespace

bool parsed_args::has(std::string_view name) const {
    return value(name).has_value();
}

std::optional<std::string_view> parsed_args::value(std::string_view name) const {
    std::optional<std::string_view> found;
    for (const auto& [k, v] : options)
        if (k == name) found = v;
    return found;
}

proto::result<parsed_args> parse_args(std::span<char* const> args,
                                      std::span<const option_spec> spec) {
    using r = proto::result<parsed_args>;
    parsed_args out;
    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (options_done || arg.size() < 2 || arg.front() != '-') {
            out.positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        std::string_view name = arg, attached;
        bool has_attached = false;
        if (arg.starts_with("--")) {
            if (auto eq = arg.find('='); eq != std::string_view::npos) {
                name = arg.substr(0, eq);
                attached = arg.substr(eq + 1);
                has_attached = true;
            }
        } else if (arg.size() > 2) {  // "-c5"
            name = arg.substr(0, 2);
            attached = arg.substr(2);
            has_attached = true;
        }
        const auto* s = find_spec(spec, name);
        if (s == nullptr) return r::fail("unknown option '" + std::string(arg) + "'");
        if (!s->takes_value) {
            if (has_attached) return r::fail("option '" + std::string(name) + "' takes no value");
            out.options.emplace_back(name, std::string_view{});
        } else if (has_attached) {
            out.options.emplace_back(name, attached);
        } else if (i + 1 < args.size()) {
            out.options.emplace_back(name, std::string_view(args[++i]));
        } else {
            return r::fail("option '" + std::string(name) + "' needs a value");
        }
    }
    return {std::move(out), {}};
}

void print_error(std::string_view what) {
    std::fflush(stdout);  // keep stdout and stderr in order on a terminal
    fmt::print(stderr, "netctl: {}\n", what);
}

int usage_error(std::string_view command, std::string_view what) {
    print_error(fmt::format("{}: {} (see 'netctl {} --help')", command, what, command));
    return exit_usage;
}

namespace {

void append_escaped(std::string& out, std::string_view text) {
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || c == '\\')
            out += fmt::format("\\x{:02x}", c);
        else
            out += ch;
    }
}

}  // namespace

std::string quoted_peer_text(std::string_view text) {
    constexpr std::size_t max_bytes = 80;
    std::string out = "'";
    append_escaped(out, text.substr(0, max_bytes));
    if (text.size() > max_bytes) out += "...";
    return out + "'";
}

std::string printable_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    append_escaped(out, text);
    return out;
}

void print_line(std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

std::string json_text(const nlohmann::ordered_json& object) {
    return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

proto::result<std::uint64_t> parse_count(std::string_view text) {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || n == 0)
        return proto::result<std::uint64_t>::fail("bad count '" + std::string(text) +
                                                  "': expected a whole number of at least 1");
    return {n, {}};
}

}  // namespace netd::netctl
