// Exercise 06's tests: a connection limit with a polite refusal (README.md
// says what each one checks). The server runs with --max-connections 2.
#include "exercise.hpp"

#include <gtest/gtest.h>

namespace sandbox::exercise {
namespace {

const std::string refusal = "error: server busy; try again later\n";

// True if `client` gets its line back.
bool served(test_client& client, const std::string& line) {
  client.send(line);
  return receive_line(client) == line;
}

TEST(ConnectionLimit, ServesClientsUpToTheLimit) {
  auto server = start_server({"--max-connections", "2"});
  test_client first{"127.0.0.1", server.port};
  test_client second{"127.0.0.1", server.port};
  EXPECT_TRUE(served(first, "one\n")) << "expected the first client's line back, it was not";
  EXPECT_TRUE(served(second, "two\n")) << "expected the second client's line back, it was not";
}

TEST(ConnectionLimit, RefusesTheClientPastTheLimitWithALineThenCloses) {
  auto server = start_server({"--max-connections", "2"});
  test_client first{"127.0.0.1", server.port};
  test_client second{"127.0.0.1", server.port};
  ASSERT_TRUE(served(first, "one\n") && served(second, "two\n"));
  test_client third{"127.0.0.1", server.port};
  const auto line = receive_line(third);
  ASSERT_TRUE(line == refusal) << "expected the third client to read " << shown(refusal)
                               << " unasked, the program sent " << shown(line);
  EXPECT_TRUE(closed_within(third, 2s))
      << "expected the program to close the refused connection, it kept it open";
  EXPECT_TRUE(served(first, "still here\n"))
      << "expected the clients already served to be served on, the first one was not";
}

TEST(ConnectionLimit, ServesANewClientOnceAPlaceIsFree) {
  auto server = start_server({"--max-connections", "2"});
  auto first = std::make_unique<test_client>("127.0.0.1", server.port);
  test_client second{"127.0.0.1", server.port};
  ASSERT_TRUE(served(*first, "one\n") && served(second, "two\n"));
  first.reset();  // Closes: the server reads end of file, a place frees.
  // As a real client would, retry while the server has not yet seen the
  // close (it learns of it a moment after the client closed).
  const int attempts = sandbox::testing::echoed_after_retries(server.port, "again\n");
  EXPECT_TRUE(attempts > 0) << "expected a new client to be served once the first had left, "
                            "the program refused it for 10 s";
}

}  // namespace
}  // namespace sandbox::exercise
