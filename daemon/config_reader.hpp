#pragma once
// Strict reading of one TOML table: every key is checked for type and range, every mistake is
// one line "file:line:col: message", and keys nobody asked for are reported with a suggestion.
#include <toml++/toml.h>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "proto/address.hpp"

namespace netd {

using usec = std::chrono::microseconds;

/// Every error of one config file, in file order of discovery.
struct diagnostics {
    std::string file;                ///< as the user named it
    std::filesystem::path base_dir;  ///< relative paths resolve against this

    void add(const toml::source_region& where, std::string_view message);
    bool ok() const { return entries_.empty(); }
    /// The errors in file order: "file:line:col: message".
    std::vector<std::string> errors() const;

  private:
    struct entry {
        std::uint32_t line, column;
        std::string text;
    };
    std::vector<entry> entries_;
};

/// Closest candidate within a small edit distance, for "did you mean" hints; empty if none.
std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates);

class table_reader {
  public:
    table_reader(const toml::table& table, std::string section, diagnostics& diag)
        : table_(table), section_(std::move(section)), diag_(diag) {}

    /// Each getter leaves `out` alone when the key is absent; returns true if it was present and
    /// valid.
    bool get(std::string_view key, bool& out);
    bool get(std::string_view key, std::string& out);
    bool get(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max);
    bool get_one_of(std::string_view key, std::string& out,
                    std::initializer_list<std::string_view> choices);
    bool get_duration(std::string_view key, usec& out, usec min);
    bool get_path(std::string_view key, std::filesystem::path& out);
    bool get_addresses(std::string_view key, std::vector<proto::listen_address>& out);
    bool get_cidrs(std::string_view key, std::vector<proto::cidr>& out);

    /// True if the table has the key (whether or not it was valid).
    bool has(std::string_view key) const { return table_.contains(key); }
    /// Reports an error about a present key (or the table itself if the key is absent).
    void error(std::string_view key, std::string_view message);
    /// Reports every key that no getter asked for.
    void finish();

    const std::string& section() const { return section_; }
    diagnostics& diag() { return diag_; }

  private:
    const toml::node* lookup(std::string_view key);
    void type_error(std::string_view key, const toml::node& node, std::string_view expected);

    const toml::table& table_;
    std::string section_;
    diagnostics& diag_;
    std::vector<std::string_view> known_;
};

}  // namespace netd
