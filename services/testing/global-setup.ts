// Placeholder replaced once the database test harness exists.
export default function setup(): void {}
