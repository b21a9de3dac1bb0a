#pragma once
// Where the event writer hands signed, committed batches: the KMS link (KmsClient).
#include <string>
#include <vector>

namespace fls {

struct BatchToSend {
  std::string batch_id;
  std::string signature;
};

class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // Everything a new registration must deliver (batches left unacknowledged before it, signed
  // again with its key), replacing whatever was queued for an earlier registration.
  virtual void send_after_registration(std::string sidecar_id, std::vector<BatchToSend> batches) = 0;
  // Batches closed under `sidecar_id`'s keys; ignored if that is no longer the registration.
  virtual void send(std::string sidecar_id, std::vector<BatchToSend> batches) = 0;
};

}  // namespace fls
