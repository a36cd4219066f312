package io.roster.consumer;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import roster.events.v1.Events.Event;
import roster.events.v1.Events.SnapshotUser;
import roster.events.v1.State.SubjectState;

/**
 * Reads Roster's lifecycle topics and prints one directory's current users, one JSON line each
 * (a {@code roster.events.v1.SnapshotUser} in protobuf's JSON mapping), sorted by id.
 *
 * <p>It builds the picture twice and requires both to agree:
 *
 * <ol>
 *   <li>as a new consumer does: the state topics read to their end, then the event topics from
 *       a little before that moment, applying an event only when its sequence is greater than
 *       its subject's state;
 *   <li>from history: the event topics read from their beginning.
 * </ol>
 *
 * <p>Every record is checked: each event decodes to a payload this build knows, its headers and
 * key agree with its value, and each subject's sequence goes up by one (duplicates of an event
 * id, which at-least-once delivery allows, are dropped); each state topic's records for a key
 * arrive in sequence order. Any failure ends the run with exit code 1.
 */
public final class Main {
  private static final String STATE_SEQUENCE_HEADER = "roster_sequence";

  private Main() {}

  /** What went wrong with the topics: printed, exit code 1. */
  static final class CheckFailed extends RuntimeException {
    CheckFailed(String message) {
      super(message);
    }
  }

  record Options(
      String brokers,
      String userTopic,
      String groupTopic,
      String userStateTopic,
      String groupStateTopic,
      String directoryId,
      Duration margin,
      boolean history) {

    static Options parse(String[] args) {
      Map<String, String> named = new HashMap<>();
      Set<String> flags = new HashSet<>();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        if (a.equals("--no-history")) {
          flags.add(a);
        } else if (a.startsWith("--") && i + 1 < args.length) {
          named.put(a, args[++i]);
        } else {
          throw new IllegalArgumentException("unexpected argument " + a);
        }
      }
      return new Options(
          named.getOrDefault("--brokers", "127.0.0.1:19092"),
          named.getOrDefault("--user-topic", "roster.lifecycle.users.v1"),
          named.getOrDefault("--group-topic", "roster.lifecycle.groups.v1"),
          named.getOrDefault("--user-state-topic", "roster.directory.users.state.v1"),
          named.getOrDefault("--group-state-topic", "roster.directory.groups.state.v1"),
          Objects.requireNonNull(named.get("--directory"), "--directory is required"),
          Duration.ofSeconds(Long.parseLong(named.getOrDefault("--margin-seconds", "60"))),
          !flags.contains("--no-history"));
    }
  }

  /** Per subject: the last sequence applied, and the event ids seen (duplicates are dropped). */
  static final class Sequences {
    private final Map<String, Long> last = new HashMap<>();
    private final Set<String> ids = new HashSet<>();

    /** The sequence a subject stands at (e.g. from its state record). */
    void start(String subject, long sequence) {
      last.put(subject, sequence);
    }

    /**
     * True when the event is new and next for its subject; false for a duplicate or one the
     * subject's state already reflects. Throws on a gap or a step back.
     */
    boolean accept(String subject, long sequence, String eventId, boolean fromFirst) {
      if (!ids.add(eventId)) return false;
      Long before = last.get(subject);
      if (before == null) {
        if (fromFirst && sequence != 1) throw new CheckFailed("subject " + subject + " starts at sequence " + sequence + ", not 1");
        last.put(subject, sequence);
        return true;
      }
      if (sequence <= before) return false;
      if (sequence != before + 1) throw new CheckFailed("subject " + subject + " jumps from sequence " + before + " to " + sequence);
      last.put(subject, sequence);
      return true;
    }
  }

  /** The current users and groups of every directory, as folded so far. */
  static final class Picture {
    final Map<String, SnapshotUser> users = new TreeMap<>();
    final Map<String, roster.directory.v1.DirectoryOuterClass.Group> groups = new TreeMap<>();
    final Map<String, String> directoryOf = new HashMap<>();

    void apply(Event e) {
      directoryOf.put(e.getSubjectId(), e.getDirectoryId());
      switch (e.getPayloadCase()) {
        case USER_CREATED -> users.put(e.getSubjectId(), user(e.getUserCreated().getUser(), e.getUserCreated().getCanonical()));
        case USER_UPDATED -> users.put(e.getSubjectId(), user(e.getUserUpdated().getUser(), e.getUserUpdated().getCanonical()));
        case USER_DEACTIVATED -> users.put(e.getSubjectId(), user(e.getUserDeactivated().getUser(), e.getUserDeactivated().getCanonical()));
        case USER_REACTIVATED -> users.put(e.getSubjectId(), user(e.getUserReactivated().getUser(), e.getUserReactivated().getCanonical()));
        case USER_ADDED_TO_GROUP -> users.put(e.getSubjectId(), user(e.getUserAddedToGroup().getUser(), e.getUserAddedToGroup().getCanonical()));
        case USER_REMOVED_FROM_GROUP -> users.put(e.getSubjectId(), user(e.getUserRemovedFromGroup().getUser(), e.getUserRemovedFromGroup().getCanonical()));
        case USER_ROLES_CHANGED -> users.put(e.getSubjectId(), user(e.getUserRolesChanged().getUser(), e.getUserRolesChanged().getCanonical()));
        case USER_DELETED -> users.remove(e.getSubjectId());
        case GROUP_CREATED -> groups.put(e.getSubjectId(), e.getGroupCreated().getGroup());
        case GROUP_UPDATED -> groups.put(e.getSubjectId(), e.getGroupUpdated().getGroup());
        case GROUP_MEMBERS_ADDED -> groups.put(e.getSubjectId(), e.getGroupMembersAdded().getGroup());
        case GROUP_MEMBERS_REMOVED -> groups.put(e.getSubjectId(), e.getGroupMembersRemoved().getGroup());
        case GROUP_DELETED -> groups.remove(e.getSubjectId());
        // The deprovisioning brake: no user or group changes.
        case DEPROVISIONING_HELD, DEPROVISIONING_ALERTED, DEPROVISIONING_RELEASED -> {}
        case PAYLOAD_NOT_SET -> throw new CheckFailed("event " + e.getId() + " of type " + e.getType() + " has a payload this build does not know");
      }
    }

    private static SnapshotUser user(roster.directory.v1.DirectoryOuterClass.User user, roster.mapping.v1.MappingOuterClass.CanonicalUser canonical) {
      return SnapshotUser.newBuilder().setUser(user).setCanonical(canonical).build();
    }

    /** This directory's part of the picture, comparable with another picture's. */
    Map<String, Object> of(String directoryId) {
      Map<String, Object> out = new TreeMap<>();
      users.forEach((id, u) -> { if (u.getUser().getDirectoryId().equals(directoryId)) out.put("users/" + id, u); });
      groups.forEach((id, g) -> { if (g.getDirectoryId().equals(directoryId)) out.put("groups/" + id, g); });
      return out;
    }
  }

  static String header(ConsumerRecord<String, byte[]> r, String name) {
    Header h = r.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  static KafkaConsumer<String, byte[]> consumer(Options o) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers());
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "roster-java-consumer");
    // Read only what is committed (the relay's producer is idempotent, not transactional: the same).
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
    return new KafkaConsumer<>(p);
  }

  static List<TopicPartition> partitions(KafkaConsumer<String, byte[]> c, String topic) {
    List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(30));
    if (infos == null || infos.isEmpty()) throw new CheckFailed("topic " + topic + " does not exist");
    List<TopicPartition> out = new ArrayList<>();
    for (PartitionInfo i : infos) out.add(new TopicPartition(topic, i.partition()));
    return out;
  }

  /** The topics' end offsets now. */
  static Map<TopicPartition, Long> endOffsets(Options o, List<String> topics) {
    try (KafkaConsumer<String, byte[]> c = consumer(o)) {
      List<TopicPartition> all = new ArrayList<>();
      for (String t : topics) all.addAll(partitions(c, t));
      return c.endOffsets(all, Duration.ofSeconds(30));
    }
  }

  /**
   * Reads the partitions from a time (null: the beginning) up to the given end offsets, handing
   * every record over in partition order. Returns how many were read.
   */
  static long read(Options o, Map<TopicPartition, Long> end, Long startTimeMs, Consumer<ConsumerRecord<String, byte[]>> each) {
    try (KafkaConsumer<String, byte[]> c = consumer(o)) {
      List<TopicPartition> all = new ArrayList<>(end.keySet());
      c.assign(all);
      if (startTimeMs == null) {
        c.seekToBeginning(all);
      } else {
        Map<TopicPartition, Long> query = new HashMap<>();
        for (TopicPartition tp : all) query.put(tp, startTimeMs);
        Map<TopicPartition, OffsetAndTimestamp> found = c.offsetsForTimes(query, Duration.ofSeconds(30));
        for (TopicPartition tp : all) {
          OffsetAndTimestamp at = found.get(tp);
          c.seek(tp, at == null ? end.get(tp) : at.offset());
        }
      }
      long read = 0;
      Set<TopicPartition> pending = new HashSet<>();
      for (TopicPartition tp : all) if (c.position(tp, Duration.ofSeconds(30)) < end.get(tp)) pending.add(tp);
      long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
      while (!pending.isEmpty()) {
        if (System.nanoTime() > deadline) throw new CheckFailed("timed out reading " + pending + " to its end");
        for (ConsumerRecord<String, byte[]> r : c.poll(Duration.ofMillis(200))) {
          TopicPartition tp = new TopicPartition(r.topic(), r.partition());
          if (r.offset() >= end.get(tp)) continue;
          each.accept(r);
          read++;
        }
        pending.removeIf(tp -> c.position(tp, Duration.ofSeconds(30)) >= end.get(tp));
      }
      return read;
    }
  }

  /** Decodes an event record and checks that its key and headers describe the same event. */
  static Event event(ConsumerRecord<String, byte[]> r) {
    String contentType = header(r, "content-type");
    if (contentType != null && !contentType.startsWith("application/protobuf")) throw new CheckFailed("unexpected content-type " + contentType + " on " + r.topic());
    if (r.value() == null) throw new CheckFailed("a null value on event topic " + r.topic());
    Event e;
    try {
      e = Event.parseFrom(r.value());
    } catch (InvalidProtocolBufferException ex) {
      throw new CheckFailed("a record of " + r.topic() + " is not a roster.events.v1.Event: " + ex.getMessage());
    }
    if (!e.getSubjectId().equals(r.key())) throw new CheckFailed("key " + r.key() + " is not the subject " + e.getSubjectId());
    if (!e.getId().equals(header(r, "ce_id"))) throw new CheckFailed("ce_id disagrees with event " + e.getId());
    if (!("io.roster." + e.getType()).equals(header(r, "ce_type"))) throw new CheckFailed("ce_type disagrees with event type " + e.getType());
    return e;
  }

  public static void main(String[] args) throws Exception {
    Options o;
    try {
      o = Options.parse(args);
    } catch (RuntimeException ex) {
      System.err.println("usage: --directory ID [--brokers B] [--user-topic T] [--group-topic T] [--user-state-topic T] [--group-state-topic T] [--margin-seconds N] [--no-history]\n" + ex.getMessage());
      System.exit(2);
      return;
    }
    try {
      run(o);
    } catch (CheckFailed ex) {
      System.err.println("check failed: " + ex.getMessage());
      System.exit(1);
    }
  }

  static void run(Options o) throws Exception {
    long startedMs = System.currentTimeMillis();
    Map<String, Long> types = new TreeMap<>();

    // 1. The state topics to their end: each key's last record is its subject's state.
    Picture fromState = new Picture();
    Map<String, Long> stateSequence = new HashMap<>();
    long stateRecords = read(o, endOffsets(o, List.of(o.userStateTopic(), o.groupStateTopic())), null, r -> {
      String seqHeader = header(r, STATE_SEQUENCE_HEADER);
      if (seqHeader == null) throw new CheckFailed("state record of " + r.key() + " has no " + STATE_SEQUENCE_HEADER + " header");
      long sequence = Long.parseLong(seqHeader);
      Long before = stateSequence.get(r.key());
      // A duplicate (at-least-once) repeats a sequence; a step back would be a reordering.
      if (before != null && sequence < before) throw new CheckFailed("state of " + r.key() + " goes back from sequence " + before + " to " + sequence);
      stateSequence.put(r.key(), sequence);
      if (r.value() == null) {
        fromState.users.remove(r.key());
        fromState.groups.remove(r.key());
        return;
      }
      SubjectState s;
      try {
        s = SubjectState.parseFrom(r.value());
      } catch (InvalidProtocolBufferException ex) {
        throw new CheckFailed("a record of " + r.topic() + " is not a roster.events.v1.SubjectState: " + ex.getMessage());
      }
      if (!s.getSubjectId().equals(r.key()) || s.getSequence() != sequence) throw new CheckFailed("state record of " + r.key() + " disagrees with its key or sequence header");
      switch (s.getStateCase()) {
        case USER -> fromState.users.put(r.key(), s.getUser());
        case GROUP -> fromState.groups.put(r.key(), s.getGroup());
        case STATE_NOT_SET -> throw new CheckFailed("state record of " + r.key() + " has a state this build does not know");
      }
    });

    // 2. The event topics from a little before the state was read (later events are newer than
    //    their subject's state; earlier ones are skipped by sequence), to where they end now.
    Map<TopicPartition, Long> eventEnd = endOffsets(o, List.of(o.userTopic(), o.groupTopic()));
    Sequences tail = new Sequences();
    stateSequence.forEach(tail::start);
    long tailRecords = read(o, eventEnd, startedMs - o.margin().toMillis(), r -> {
      Event e = event(r);
      if (tail.accept(e.getSubjectId(), e.getSequence(), e.getId(), false)) fromState.apply(e);
    });

    // 3. History: every event from the beginning to the same end, each subject from sequence 1.
    long historyRecords = 0;
    if (o.history()) {
      Picture fromHistory = new Picture();
      Sequences all = new Sequences();
      historyRecords = read(o, eventEnd, null, r -> {
        Event e = event(r);
        types.merge(e.getType(), 1L, Long::sum);
        if (all.accept(e.getSubjectId(), e.getSequence(), e.getId(), true)) fromHistory.apply(e);
      });
      Map<String, Object> a = fromState.of(o.directoryId());
      Map<String, Object> b = fromHistory.of(o.directoryId());
      if (!a.equals(b)) {
        Set<String> differing = new HashSet<>(a.keySet());
        differing.addAll(b.keySet());
        differing.removeIf(k -> Objects.equals(a.get(k), b.get(k)));
        throw new CheckFailed("state + tail and history disagree on " + differing.size() + " subjects, e.g. " + differing.iterator().next());
      }
    }

    JsonFormat.Printer printer = JsonFormat.printer().omittingInsignificantWhitespace();
    StringBuilder out = new StringBuilder();
    for (SnapshotUser u : fromState.users.values()) {
      if (u.getUser().getDirectoryId().equals(o.directoryId())) out.append(printer.print(u)).append('\n');
    }
    // JSON is UTF-8 whatever the platform's locale (a POSIX locale would turn non-ASCII into '?').
    System.out.writeBytes(out.toString().getBytes(StandardCharsets.UTF_8));
    System.out.flush();
    System.err.printf("read %d state records, %d tail events, %d history events; event types %s%n", stateRecords, tailRecords, historyRecords, types);
  }
}
