import Foundation
import Models
import Training

// The `gan` section: the GAN objective, shared by the adversarial algorithms that read it (SeqGAN and the
// Gumbel-softmax algorithm), so `gan.loss` and `--loss` mean the same wherever they are accepted. An algorithm that
// cannot use an objective says so in its own `validate(_:)`.

extension GANConfig: ConfigSection {
    public static let key = "gan"

    public init(preset: Preset?) { self.init() }

    public func validate() throws {
        let check = ConfigCheck(Self.key)
        try check.number("weightClip", weightClip, 0...1e6, open: true)
        try check.number("gpWeight", gpWeight, 0...1e6)
    }

    /// The section as configs stored before it existed hold it: `loss` (and `weightClip`) inside the algorithm's own
    /// section (`seqgan.loss`, `gumbel.loss`, `gumbel.weightClip`); nil when `section` holds none of them.
    static func legacy<K: CodingKey>(in container: KeyedDecodingContainer<K>, key: K) throws -> GANConfig? {
        let fields = try container.nestedContainer(keyedBy: LegacyKey.self, forKey: key)
        guard !fields.allKeys.isEmpty else { return nil }
        var config = GANConfig(loss: try fields.decodeIfPresent(GANObjective.self, forKey: .loss))
        config.weightClip = try fields.decodeIfPresent(Float.self, forKey: .weightClip) ?? config.weightClip
        return config
    }

    private enum LegacyKey: String, CodingKey { case loss, weightClip }
}
