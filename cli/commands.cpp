#include "cli/commands.hpp"

#include <sstream>

namespace balance::cli {

namespace {

struct entry {
  const char* name;
  command_kind kind;
};

// 3.54's order of comparison: the first name the word is a prefix of wins.
// clang-format off
const entry table[] = {
  {"quit", command_kind::quit},         {"show", command_kind::show},
  {"help", command_kind::help},         {"?", command_kind::help},
  {"kill", command_kind::kill},         {"disable", command_kind::disable},
  {"group", command_kind::group},       {"reset", command_kind::reset},
  {"enable", command_kind::enable},     {"create", command_kind::create},
  {"assign", command_kind::assign},     {"maxc", command_kind::maxc},
  {"mrtg-bytes", command_kind::mrtg_bytes},
  {"mrtg-conns", command_kind::mrtg_conns},
  {"version", command_kind::version},   {"hash", command_kind::hash},
  {"rr", command_kind::rr},             {"metrics", command_kind::metrics},
  {"health", command_kind::health},
  {"drain", command_kind::drain},       {"upgrade", command_kind::upgrade},
};
// clang-format on

bool is_prefix(const std::string& word, const char* name) {
  return std::string(name).compare(0, word.size(), word) == 0;
}

bool parse_int(const std::string& text, int64_t& out) {
  std::size_t i = (!text.empty() && text[0] == '-') ? 1 : 0;
  if (text.size() == i || text.size() - i > 12)
    return false;
  for (std::size_t k = i; k < text.size(); ++k)
    if (text[k] < '0' || text[k] > '9')
      return false;
  out = std::stoll(text);
  return true;
}

} // namespace

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (auto& e : table)
      v.emplace_back(e.name);
    return v;
  }();
  return names;
}

command parse_command(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;)
    words.push_back(w);
  command cmd;
  if (words.empty())
    return cmd;
  cmd.kind = command_kind::syntax_error;
  for (auto& e : table) {
    if (is_prefix(words[0], e.name)) {
      cmd.kind = e.kind;
      break;
    }
  }
  auto need = [&](std::size_t n) { return words.size() >= n + 1; };
  auto number = [&](std::size_t i, int64_t& out) {
    return parse_int(words[i], out);
  };
  auto fail = [&] {
    cmd.kind = command_kind::syntax_error;
    return cmd;
  };
  switch (cmd.kind) {
    case command_kind::show:
      cmd.json = words.size() > 1 && words[1] == "json";
      break;
    case command_kind::disable:
    case command_kind::enable:
    case command_kind::reset:
    case command_kind::group:
      if (!need(1) || !number(1, cmd.first))
        return fail();
      break;
    case command_kind::create:
      if (!need(2))
        return fail();
      cmd.host = words[1];
      cmd.port = words[2];
      break;
    case command_kind::assign:
      if (!need(3) || !number(1, cmd.first))
        return fail();
      cmd.host = words[2];
      cmd.port = words[3];
      break;
    case command_kind::upgrade: {
      // The path is the rest of the line (it may hold blanks).
      auto start = line.find_first_not_of(" \t");
      auto after = line.find_first_of(" \t", start);
      if (after != std::string::npos) {
        auto b = line.find_first_not_of(" \t\n", after);
        auto e = line.find_last_not_of(" \t\n");
        if (b != std::string::npos)
          cmd.path = line.substr(b, e - b + 1);
      }
      break;
    }
    case command_kind::maxc:
    case command_kind::mrtg_bytes:
    case command_kind::mrtg_conns:
      if (!need(2) || !number(1, cmd.first) || !number(2, cmd.second))
        return fail();
      break;
    default: break;
  }
  return cmd;
}

std::vector<std::string> split_commands(const std::string& argument) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(argument);
  while (std::getline(in, part, ';')) {
    auto b = part.find_first_not_of(" \t\n");
    auto e = part.find_last_not_of(" \t\n");
    if (b != std::string::npos)
      out.push_back(part.substr(b, e - b + 1));
  }
  return out;
}

} // namespace balance::cli
