#pragma once
// The netctl subcommands; main.cpp dispatches to them. Each takes argv after its own name.
#include <span>

namespace netd::netctl {

/// `netctl ping [HOST[:PORT]] [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [--json]`
int ping_command(std::span<char* const> args);

/// `netctl time [HOST[:PORT]] [--json]`
int time_command(std::span<char* const> args);

/// `netctl send [HOST[:PORT]] MESSAGE... [-W TIMEOUT] [--json]`
int send_command(std::span<char* const> args);

/// `netctl sensor [HOST[:PORT]] [-c COUNT] [-i INTERVAL] [-W TIMEOUT] [--from FILE|-] [--json]`
int sensor_command(std::span<char* const> args);

/// `netctl get URL | HOST PORT PATH [-o FILE] [-c] [-W TIMEOUT] [--json]`
int get_command(std::span<char* const> args);

/// `netctl status [-c FILE | -s SOCKET] [--json]`
int status_command(std::span<char* const> args);

/// `netctl reload [-c FILE | -s SOCKET] [--json]`
int reload_command(std::span<char* const> args);

/// `netctl selftest [-c FILE] [-W TIMEOUT] [--json]`
int selftest_command(std::span<char* const> args);

}  // namespace netd::netctl
